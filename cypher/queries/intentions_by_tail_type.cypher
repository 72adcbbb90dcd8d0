// name: intentions_by_tail_type
// answers: Which intentions of one tail type (event, audience, location, ...) are most used?
// params: tail_type (string, default "function"), limit (integer, default 20)
MATCH (i:Intention) WHERE $tail_type IN i.tail_types
MATCH (i)<-[r]-()
RETURN i.text AS intention, count(r) AS edges
ORDER BY edges DESC, intention
LIMIT $limit
