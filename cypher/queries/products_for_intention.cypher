// name: products_for_intention
// answers: Which products fulfil an intention (e.g. "camping"), and through which relation?
// params: intention (string), limit (integer, default 20)
MATCH (i:Intention {text: toLower(trim($intention))})<-[r]-(p:Product)
RETURN p.product_id AS product_id, p.title AS title, type(r) AS relation,
       r.plausibility AS plausibility, r.typicality AS typicality
ORDER BY typicality DESC, plausibility DESC, product_id
LIMIT $limit
