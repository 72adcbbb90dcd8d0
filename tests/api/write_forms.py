"""Statements that change the graph, its schema or the DBMS, or read files: every Cypher console
refuses them (``cosmo-kg cypher`` without --write, ``POST /cypher`` always).

WRITE_FORMS are valid statements Neo4j plans as writes (the guard refuses them as such);
NEVER_RUN are forms Neo4j itself will not plan in a console (PROFILE executes, ``USE system``
administration, several statements at once): refused as bad input, with nothing run.
"""

WRITE_FORMS = [
    "CREATE (n:Hacked) RETURN n",
    "cReAtE (:Hacked)",
    "UNWIND [1, 2] AS x CREATE (:Hacked {x: x})",
    "MERGE (n:Hacked {name: 'zz'})",
    "MATCH (p:Product) SET p.title = 'x'",
    "MATCH (p:Product) SET p:Hacked",
    "MATCH (p:Product) SET p += {hacked: true}",
    "MATCH (p:Product) REMOVE p.title",
    "MATCH (p:Product) REMOVE p:Product",
    "MATCH (p:Product) DELETE p",
    "MATCH (p:Product) DETACH DELETE p",
    "MATCH (:Product)-[r]->() DELETE r",
    "FOREACH (x IN [1] | CREATE (:Hacked))",
    "MATCH (p:Product) WITH p LIMIT 1 CALL (p) { SET p.hacked = true } RETURN count(*)",
    "CALL { CREATE (:Hacked) } IN TRANSACTIONS",
    "MATCH (n) CALL (n) { SET n.hacked = 1 } IN TRANSACTIONS OF 10 ROWS RETURN 1",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "LOAD CSV WITH HEADERS FROM 'http://127.0.0.1:9/x.csv' AS row RETURN row",
    "CALL db.createLabel('Hacked')",
    "CALL db.createProperty('hacked')",
    "CALL db.createRelationshipType('HACKED')",
    "CALL db.clearQueryCaches()",
    "CREATE INDEX hacked IF NOT EXISTS FOR (n:Hacked) ON (n.y)",
    "DROP INDEX hacked IF EXISTS",
    "CREATE CONSTRAINT hacked IF NOT EXISTS FOR (n:Hacked) REQUIRE n.y IS UNIQUE",
    "DROP CONSTRAINT product_id IF EXISTS",
    "CREATE USER bob SET PASSWORD 'secretsecret'",
    "ALTER USER neo4j SET PASSWORD 'changed-by-someone'",
    "DROP USER neo4j",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "CYPHER runtime=slotted CREATE (:Hacked)",
    "/* a comment; */ CREATE (:Hacked)",
    "// a comment line\nCREATE (:Hacked)",
    "MATCH (n)\u00a0SET n.hacked = 1",  # no-break space
    "MATCH (n)\u3000SET n.hacked = 1",  # ideographic space
    "MATCH (n) SET n.`\u200bhacked` = 1",  # zero-width space in a name
]

NEVER_RUN = [
    "PROFILE CREATE (n:Hacked) RETURN n",
    "USE system CREATE USER bob SET PASSWORD 'secretsecret'",
    "USE system ALTER USER neo4j SET PASSWORD 'changed-by-someone'",
]

# What must be unchanged after each attempt.
STATE = (
    "MATCH (n) WITH count(n) AS nodes, sum(CASE WHEN n:Hacked OR n.hacked IS NOT NULL THEN 1 ELSE 0 END)"
    " AS hacked OPTIONAL MATCH ()-[r]->() RETURN nodes, hacked, count(r) AS relationships"
)
