// name: query_intention_product_paths
// answers: For a search query, which intentions does it carry and which products fulfil them?
// params: query (string), limit (integer, default 25)
MATCH (q:Query {text: toLower(trim($query))})-[r]->(i:Intention)<-[r2]-(p:Product)
RETURN i.text AS intention, type(r) AS relation, p.product_id AS product_id, p.title AS title,
       r2.plausibility AS plausibility
ORDER BY r.typicality DESC, plausibility DESC, product_id
LIMIT $limit
