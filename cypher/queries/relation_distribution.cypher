// name: relation_distribution
// answers: How is the knowledge spread over the relations, and how good is each on average?
// params: (none)
MATCH ()-[r]->(:Intention)
RETURN type(r) AS relation, count(r) AS edges, round(avg(r.plausibility), 3) AS mean_plausibility,
       round(avg(r.typicality), 3) AS mean_typicality
ORDER BY edges DESC, relation
