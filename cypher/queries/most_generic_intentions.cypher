// name: most_generic_intentions
// answers: Which intentions are attached to the most products across domains (candidates for generic knowledge)?
// params: limit (integer, default 20)
MATCH (p:Product)-[r]->(i:Intention)
WITH i, count(DISTINCT p) AS products, count(DISTINCT p.domain) AS domains,
     count(DISTINCT type(r)) AS relations
RETURN i.text AS intention, products, domains, relations
ORDER BY products DESC, domains DESC, intention
LIMIT $limit
