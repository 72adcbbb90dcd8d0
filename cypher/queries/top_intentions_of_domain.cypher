// name: top_intentions_of_domain
// answers: Which intentions explain the most products of one domain?
// params: domain (string, default "Others"), limit (integer, default 20)
MATCH (p:Product {domain: $domain})-[r]->(i:Intention)
RETURN i.text AS intention, count(DISTINCT p) AS products, collect(DISTINCT type(r)) AS relations,
       round(avg(r.typicality), 3) AS mean_typicality
ORDER BY products DESC, mean_typicality DESC, intention
LIMIT $limit
