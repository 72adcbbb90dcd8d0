// name: products_sharing_intentions
// answers: Which other products serve the same intentions as this one (complements, substitutes)?
// params: product_id (string), limit (integer, default 10)
MATCH (p:Product {product_id: $product_id})-[r1]->(i:Intention)<-[r2]-(other:Product)
WHERE other <> p
RETURN other.product_id AS product_id, other.title AS title, count(DISTINCT i) AS shared,
       collect(DISTINCT i.text)[..5] AS intentions
ORDER BY shared DESC, product_id
LIMIT $limit
