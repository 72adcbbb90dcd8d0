// name: intention_search
// answers: Which intentions mention these words (full-text search over intention texts)?
// params: text (string), limit (integer, default 10)
CALL db.index.fulltext.queryNodes("intention_text_fulltext", $text) YIELD node, score
RETURN node.text AS intention, round(score, 3) AS score
ORDER BY score DESC, intention
LIMIT $limit
