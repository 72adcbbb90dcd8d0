// name: top_intentions_of_product
// answers: Why do people buy this product (its intentions, most typical and plausible first)?
// params: product_id (string), limit (integer, default 10)
MATCH (p:Product {product_id: $product_id})-[r]->(i:Intention)
RETURN type(r) AS relation, i.text AS intention, r.plausibility AS plausibility,
       r.typicality AS typicality, r.support AS support
ORDER BY r.typicality DESC, r.plausibility DESC, intention
LIMIT $limit
