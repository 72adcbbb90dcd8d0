"""Every Cypher statement the API sends, in one place.

Values always travel as parameters. The only text spliced into a statement is a node label,
its key property or a relationship type taken from the shared vocabulary (``HEAD_KEYS``,
``NodeLabel``, ``RELATIONS``), so request input can never become Cypher. Every statement takes a
list (``UNWIND``) so a DataLoader answers all parents of a field with one round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cosmo_kg.graph.retract import EDGE_IN_DOMAIN
from cosmo_kg.graph.statements import HEAD_KEYS
from cosmo_kg.graph.stats import count_statement
from cosmo_kg.vocabulary import RELATIONS, EdgeType, NodeLabel

PRODUCT_FIELDS = ("product_id", "title", "product_type", "domain", "brand", "popularity")
_PRODUCT_MAP = "{" + ", ".join(f".{f}" for f in PRODUCT_FIELDS) + "}"

# No relation test here: the relations asked are the typed expansion of the MATCH (`relation_types`).
_EDGE_FILTER = "e.plausibility >= $min_plausibility AND e.typicality >= $min_typicality"
_EDGE_KEYS = "relation: type(e), plausibility: e.plausibility, typicality: e.typicality, support: e.support"

PRODUCTS = f"""
UNWIND $keys AS key
MATCH (p:Product {{product_id: key}})
RETURN key, p {_PRODUCT_MAP} AS product
"""

INTENTIONS = """
UNWIND $keys AS key
MATCH (i:Intention {text: key})
RETURN key, coalesce(i.tail_types, []) AS tail_types
"""

# The intentions of a head, best first; one page of $limit rows after $offset. {head_column}
# optionally adds a product head's own fields, for a product and its page in one round trip.
# A knowledge relationship always ends at an Intention (the loader writes no other), so its end
# node's label is not tested again: a database hit per edge read.
_HEAD_INTENTIONS = """
UNWIND $keys AS key
MATCH (h:{label} {{{key_property}: key}})
CALL (h) {{
  MATCH (h)-[e{types}]->(i)
  WHERE {edge_filter}
  WITH e, i ORDER BY e.plausibility DESC, e.typicality DESC, i.text, type(e)
  SKIP $offset LIMIT $limit
  RETURN collect({{{edge_keys}, text: i.text, tail_types: coalesce(i.tail_types, [])}}) AS edges
}}
RETURN key, edges{head_column}
"""

# The heads (products or queries) linked to an intention, best first.
_INTENTION_HEADS = """
UNWIND $keys AS key
MATCH (i:Intention {{text: key}})
CALL (i) {{
  MATCH (h:{label})-[e{types}]->(i)
  WHERE {edge_filter}
  WITH e, h ORDER BY e.plausibility DESC, e.typicality DESC, h.{key_property}, type(e)
  SKIP $offset LIMIT $limit
  RETURN collect({{{edge_keys}, head: h {head_map}}}) AS edges
}}
RETURN key, edges
"""


def relation_types(relations: Sequence[str] | None) -> str:
    """The typed expansion ``:A|B`` of the relations asked (every relation of the vocabulary when
    None), so Neo4j reads only those relationships of a head, never its behaviour edges or the
    other relations; ``ValueError`` for a name outside the vocabulary (request text never gets here)."""
    names = tuple(RELATIONS) if relations is None else tuple(relations)
    unknown = [name for name in names if name not in RELATIONS]
    if unknown or not names:
        raise ValueError(f"not relations of the vocabulary: {unknown or names!r}")
    return ":" + "|".join(names)


@functools.cache
def head_intentions(
    head: NodeLabel,
    relations: tuple[str, ...] | None = None,
    with_product: bool = False,
    in_domain: bool = False,
) -> str:
    """The page-of-intentions statement for Product or Query heads, expanding only ``relations``
    (all when None); ``with_product`` also returns each Product head's fields as ``product``;
    ``in_domain`` keeps the edges of ``$domain`` (the head product's domain, or for a query the
    domain of the products it bought that carry the same knowledge) and is left out otherwise,
    so unfiltered pages pay nothing for it."""
    return _HEAD_INTENTIONS.format(
        label=head.value,
        key_property=HEAD_KEYS[head],
        types=relation_types(relations),
        edge_filter=f"{_EDGE_FILTER} AND {EDGE_IN_DOMAIN}" if in_domain else _EDGE_FILTER,
        edge_keys=_EDGE_KEYS,
        head_column=f", h {_PRODUCT_MAP} AS product" if with_product else "",
    )


@functools.cache
def intention_heads(head: NodeLabel, relations: tuple[str, ...] | None = None) -> str:
    """The page-of-heads statement (products or queries) of intentions, over ``relations`` only."""
    head_map = _PRODUCT_MAP if head is NodeLabel.PRODUCT else "{.text}"
    return _INTENTION_HEADS.format(
        label=head.value,
        key_property=HEAD_KEYS[head],
        types=relation_types(relations),
        edge_filter=_EDGE_FILTER,
        edge_keys=_EDGE_KEYS,
        head_map=head_map,
    )


CO_BOUGHT = f"""
UNWIND $keys AS key
MATCH (p:Product {{product_id: key}})
CALL (p) {{
  MATCH (p)-[c:CO_BUY]-(o:Product)
  WITH c, o ORDER BY coalesce(c.count, 0) DESC, o.product_id LIMIT $limit
  RETURN collect({{count: c.count, product: o {_PRODUCT_MAP}}}) AS items
}}
RETURN key, items
"""

PURCHASED = f"""
UNWIND $keys AS key
MATCH (q:Query {{text: key}})
CALL (q) {{
  MATCH (q)-[s:SEARCH_BUY]->(p:Product)
  WITH s, p ORDER BY coalesce(s.count, 0) DESC, p.product_id LIMIT $limit
  RETURN collect({{count: s.count, product: p {_PRODUCT_MAP}}}) AS items
}}
RETURN key, items
"""

QUERIES_EXIST = """
UNWIND $keys AS key
MATCH (q:Query {text: key})
RETURN key
"""

# Products under each navigation facet: linked to the intention by any relation, strongest first.
FACET_PRODUCTS = f"""
UNWIND $keys AS key
MATCH (i:Intention {{text: key}})
CALL (i) {{
  MATCH (p:Product)-[e]->(i)
  WITH p, max(e.plausibility * e.typicality) AS weight
  ORDER BY weight DESC, coalesce(p.popularity, 0) DESC, p.product_id LIMIT $limit
  RETURN collect({{weight: weight, product: p {_PRODUCT_MAP}}}) AS items
}}
RETURN key, items
"""

# Session recommendation: the session's intentions (strongest $per_product per product), the
# products that share them (strongest $fanout per intention), scored by the shared weight.
# Products of a type already in the session count half: we want complements, not substitutes.
RECOMMEND = f"""
MATCH (s:Product) WHERE s.product_id IN $ids
WITH collect(s) AS session, collect(DISTINCT s.product_type) AS session_types
UNWIND session AS s
CALL (s) {{
  MATCH (s)-[e{relation_types(None)}]->(i:Intention)
  WITH e, i ORDER BY e.plausibility * e.typicality DESC LIMIT $per_product
  RETURN i, type(e) AS relation, e.plausibility * e.typicality AS w1
}}
CALL (i) {{
  MATCH (c:Product)-[e2]->(i)
  WHERE NOT c.product_id IN $ids
  WITH c, max(e2.plausibility * e2.typicality) AS w2 ORDER BY w2 DESC LIMIT $fanout
  RETURN c, w2
}}
WITH c, session_types, i, relation, max(w1 * w2) AS shared
WITH c, session_types, sum(shared) AS raw,
     collect({{text: i.text, relation: relation, weight: shared}}) AS explanations
WITH c, explanations,
     raw * CASE WHEN c.product_type IS NOT NULL AND c.product_type IN session_types
                THEN 0.5 ELSE 1.0 END AS score
ORDER BY score DESC, c.product_id LIMIT $k
RETURN c {_PRODUCT_MAP} AS product, score, explanations
"""

SEARCH_BUY_COUNT = """
OPTIONAL MATCH (q:Query {text: $query})-[s:SEARCH_BUY]->(p:Product {product_id: $product_id})
RETURN coalesce(s.count, 0) AS count
"""

# Product-type distribution behind queries (what their searches bought) and products (what is
# bought with them).
QUERY_TYPE_DISTRIBUTION = """
UNWIND $keys AS key
MATCH (q:Query {text: key})
CALL (q) {
  MATCH (q)-[s:SEARCH_BUY]->(p:Product)
  WITH coalesce(p.product_type, 'unknown') AS type, sum(coalesce(s.count, 1)) AS weight
  RETURN collect({type: type, weight: weight}) AS types
}
RETURN key, types
"""

PRODUCT_TYPE_DISTRIBUTION = """
UNWIND $keys AS key
MATCH (p:Product {product_id: key})
CALL (p) {
  MATCH (p)-[c:CO_BUY]-(o:Product)
  WITH coalesce(o.product_type, 'unknown') AS type, sum(coalesce(c.count, 1)) AS weight
  RETURN collect({type: type, weight: weight}) AS types
}
RETURN key, p.product_type AS product_type, p.domain AS domain, types
"""

# The frequent queries tier 1 preloads: by purchases behind them, then by knowledge about them.
TOP_QUERIES = """
MATCH (q:Query)
CALL (q) {
  OPTIONAL MATCH (q)-[s:SEARCH_BUY]->(:Product)
  RETURN sum(coalesce(s.count, 0)) AS purchases
}
CALL (q) {
  OPTIONAL MATCH (q)-[e]->(:Intention)
  RETURN count(e) AS knowledge
}
WITH q, purchases, knowledge ORDER BY purchases DESC, knowledge DESC, q.text LIMIT $limit
RETURN q.text AS key
"""

# Keyset pages over the texts the semantic index holds (the unique index keeps them ordered).
_TEXT_PAGE = """
MATCH (n:{label}) WHERE n.text > $after
RETURN n.text AS text ORDER BY n.text LIMIT $limit
"""
INDEXED_LABELS = (NodeLabel.INTENTION, NodeLabel.QUERY)


def text_page(label: NodeLabel) -> str:
    if label not in INDEXED_LABELS:
        raise ValueError(f"not an indexed label: {label!r}")
    return _TEXT_PAGE.format(label=label.value)


# Counts from Neo4j's count store (constant time): one per vocabulary label and type; rows name
# them by their position in STAT_NAMES.
STAT_NAMES = {
    "node": tuple(label.value for label in NodeLabel if label is not NodeLabel.LOAD_RUN),
    "edge": tuple(f"{name}" for name in (*RELATIONS, *EdgeType)),
}
STATS = count_statement(STAT_NAMES["node"], STAT_NAMES["edge"])

PING = "RETURN 1 AS ok"


def all_keys(label: NodeLabel) -> str:
    """Every key of Product or Query nodes, in key order (feature-store builds)."""
    key_property = HEAD_KEYS[label]
    return f"MATCH (n:{label.value}) RETURN n.{key_property} AS key ORDER BY key"
