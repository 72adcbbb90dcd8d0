// name: domain_overview
// answers: How many products, and how much knowledge, does each domain have?
// params: (none)
MATCH (d:Domain)<-[:IN_DOMAIN]-(p:Product)
OPTIONAL MATCH (p)-[r]->(:Intention)
RETURN d.name AS domain, count(DISTINCT p) AS products, count(r) AS knowledge_edges
ORDER BY products DESC, domain
