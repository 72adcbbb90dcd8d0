// name: co_bought_with
// answers: What is bought together with this product, and which intentions do the two share?
// params: product_id (string), limit (integer, default 10)
MATCH (p:Product {product_id: $product_id})-[c:CO_BUY]-(other:Product)
OPTIONAL MATCH (p)-->(i:Intention)<--(other)
RETURN other.product_id AS product_id, other.title AS title, c.count AS count,
       collect(DISTINCT i.text)[..5] AS shared_intentions
ORDER BY count DESC, product_id
LIMIT $limit
