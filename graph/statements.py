"""Every Cypher statement the loader sends, in one place.

All values travel as parameters (``$rows``, ``$seen_at``); the only text spliced into a
statement is a relationship type or label taken from the shared vocabulary, checked again
here, so raw input can never become Cypher.
"""

from __future__ import annotations

from cosmo_kg.vocabulary import RELATIONS, EdgeType, NodeLabel

# The head of a knowledge edge: label and the key property MERGEd on.
HEAD_KEYS: dict[NodeLabel, str] = {NodeLabel.PRODUCT: "product_id", NodeLabel.QUERY: "text"}

DOMAINS = """
UNWIND $rows AS row
MERGE (:Domain {name: row.name})
"""

PRODUCT_TYPES = """
UNWIND $rows AS row
MERGE (:ProductType {name: row.name})
"""

PRODUCTS = """
UNWIND $rows AS row
MERGE (p:Product {product_id: row.product_id})
SET p.title = row.title, p.product_type = row.product_type, p.domain = row.domain,
    p.brand = row.brand, p.description = row.description, p.popularity = row.popularity
"""

# A product re-catalogued under another domain or type moves: its old navigation edge goes.
# (Separate statements: DELETE beside MERGE in one query forces Eager plans, 2-3x slower.)
PRODUCT_MOVES = """
UNWIND $rows AS row
MATCH (p:Product {product_id: row.product_id})-[moved:IN_DOMAIN|OF_TYPE]->(old)
WHERE (moved:IN_DOMAIN AND old.name <> row.domain)
   OR (moved:OF_TYPE AND (row.product_type IS NULL OR old.name <> row.product_type))
DELETE moved
"""


def _catalog_edge(rel_type: EdgeType, target: NodeLabel, column: str, write: str) -> str:
    """A product's navigation edge to the Domain or ProductType named by the row's ``column``;
    ``write`` is MERGE, or CREATE on a first load."""
    return f"""
UNWIND $rows AS row
MATCH (p:Product {{product_id: row.product_id}})
MATCH (n:{target.value} {{name: row.{column}}})
{write} (p)-[:{rel_type.value}]->(n)
"""


IN_DOMAIN_EDGES = _catalog_edge(EdgeType.IN_DOMAIN, NodeLabel.DOMAIN, "domain", "MERGE")
OF_TYPE_EDGES = _catalog_edge(EdgeType.OF_TYPE, NodeLabel.PRODUCT_TYPE, "product_type", "MERGE")
IN_DOMAIN_EDGES_FIRST_LOAD = _catalog_edge(EdgeType.IN_DOMAIN, NodeLabel.DOMAIN, "domain", "CREATE")
OF_TYPE_EDGES_FIRST_LOAD = _catalog_edge(EdgeType.OF_TYPE, NodeLabel.PRODUCT_TYPE, "product_type", "CREATE")

# Products named by knowledge or pairs when no catalog came with them: keys only.
PRODUCT_KEYS = """
UNWIND $rows AS row
MERGE (:Product {product_id: row.product_id})
"""

QUERIES = """
UNWIND $rows AS row
MERGE (:Query {text: row.text})
"""

INTENTIONS = """
UNWIND $rows AS row
MERGE (i:Intention {text: row.text})
SET i.tail_types = row.tail_types
"""


def create_nodes_statement(label: NodeLabel, properties: tuple[str, ...]) -> str:
    """A first load's node statement: CREATE with ``properties`` taken from the row's keys of
    the same names (each node comes once after preparation and none exists yet; a null value
    sets nothing, as in the MERGE statements)."""
    if label not in NodeLabel or not all(name.isidentifier() for name in properties):
        raise ValueError(f"not a vocabulary label or property names: {label!r} {properties!r}")
    values = ", ".join(f"{name}: row.{name}" for name in properties)
    return f"UNWIND $rows AS row\nCREATE (:{label.value} {{{values}}})\n"


# Knowledge edges: scores and provenance change only when this load is not older than the
# edge's last sighting, so re-loading an old file never rolls a newer run back.
_KNOWLEDGE_EDGE = """
UNWIND $rows AS row
MATCH (h:{label} {{{key}: row.head}})
MATCH (i:Intention {{text: row.tail}})
MERGE (h)-[e:{rel_type}]->(i)
ON CREATE SET e.first_seen = $seen_at
SET e += CASE WHEN e.last_seen IS NULL OR e.last_seen <= $seen_at
         THEN {{plausibility: row.plausibility, typicality: row.typicality, support: row.support,
               model: row.model, run_id: row.run_id, last_seen: $seen_at}}
         ELSE {{}} END
"""

# A first load into a graph that was empty when it began cannot meet an edge it has not written
# itself, and each of its edges comes once: CREATE writes what MERGE would, 2-3x faster (MERGE
# scans the edges of Zipf-frequent heads). A resumed load goes back to MERGE.
_KNOWLEDGE_EDGE_FIRST_LOAD = """
UNWIND $rows AS row
MATCH (h:{label} {{{key}: row.head}})
MATCH (i:Intention {{text: row.tail}})
CREATE (h)-[:{rel_type} {{plausibility: row.plausibility, typicality: row.typicality,
                         support: row.support, model: row.model, run_id: row.run_id,
                         first_seen: $seen_at, last_seen: $seen_at}}]->(i)
"""

SEARCH_BUY_EDGES = """
UNWIND $rows AS row
MATCH (q:Query {text: row.query})
MATCH (p:Product {product_id: row.product_id})
MERGE (q)-[e:SEARCH_BUY]->(p)
SET e.count = coalesce(row.count, e.count)
"""

CO_BUY_EDGES = """
UNWIND $rows AS row
MATCH (a:Product {product_id: row.product_id})
MATCH (b:Product {product_id: row.product_id_b})
MERGE (a)-[e:CO_BUY]->(b)
SET e.count = coalesce(row.count, e.count)
"""

SEARCH_BUY_EDGES_FIRST_LOAD = """
UNWIND $rows AS row
MATCH (q:Query {text: row.query})
MATCH (p:Product {product_id: row.product_id})
CREATE (q)-[:SEARCH_BUY {count: row.count}]->(p)
"""

CO_BUY_EDGES_FIRST_LOAD = """
UNWIND $rows AS row
MATCH (a:Product {product_id: row.product_id})
MATCH (b:Product {product_id: row.product_id_b})
CREATE (a)-[:CO_BUY {count: row.count}]->(b)
"""

LOAD_RUN_GET = """
MATCH (l:LoadRun {load_id: $load_id})
RETURN l.seen_at AS seen_at, l.batches_done AS batches_done, l.completed AS completed
"""

LOAD_RUN_BEGIN = """
MERGE (l:LoadRun {load_id: $load_id})
ON CREATE SET l.seen_at = $seen_at, l.batches_done = 0, l.completed = false, l.source = $source
SET l.batches_total = $batches_total
"""

GRAPH_IS_EMPTY = "MATCH (n) RETURN count(n) = 0 AS empty"

LOAD_RUN_PROGRESS = """
MATCH (l:LoadRun {load_id: $load_id})
SET l.batches_done = $batches_done
"""

LOAD_RUN_COMPLETE = """
MATCH (l:LoadRun {load_id: $load_id})
SET l.completed = true, l.batches_done = $batches_done, l.completed_at = datetime()
"""

# Full-text indexes are eventually consistent (cypher/schema.cypher): make a finished load
# searchable before the loader returns.
FULLTEXT_REFRESH = "CALL db.index.fulltext.awaitEventuallyConsistentIndexRefresh()"


def knowledge_edge_statement(head: NodeLabel, relation_name: str, *, first_load: bool = False) -> str:
    """The MERGE statement for one relation type from one head label (CREATE for a first load)."""
    if relation_name not in RELATIONS:
        raise ValueError(f"not a vocabulary relation: {relation_name!r}")
    if head not in HEAD_KEYS:
        raise ValueError(f"not a knowledge head label: {head!r}")
    template = _KNOWLEDGE_EDGE_FIRST_LOAD if first_load else _KNOWLEDGE_EDGE
    return template.format(label=head.value, key=HEAD_KEYS[head], rel_type=relation_name)
