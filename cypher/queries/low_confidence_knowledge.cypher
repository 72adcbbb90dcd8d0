// name: low_confidence_knowledge
// answers: Which knowledge is least plausible or least typical (for review or re-annotation)?
// params: max_plausibility (float, default 0.6), max_typicality (float, default 0.6), limit (integer, default 20)
MATCH (h)-[r]->(i:Intention)
WHERE r.plausibility <= $max_plausibility OR r.typicality <= $max_typicality
RETURN coalesce(h.product_id, h.text) AS head, type(r) AS relation, i.text AS intention,
       r.plausibility AS plausibility, r.typicality AS typicality
ORDER BY plausibility, typicality, head, intention
LIMIT $limit
