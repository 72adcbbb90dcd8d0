// name: load_history
// answers: Which loads wrote this graph, when, and did they finish?
// params: limit (integer, default 10)
MATCH (l:LoadRun)
RETURN l.load_id AS load_id, l.seen_at AS seen_at, l.completed AS completed,
       l.batches_done AS batches_done, l.batches_total AS batches_total, l.source AS source
ORDER BY seen_at DESC
LIMIT $limit
