"""The knowledge graph store: local Neo4j server, schema, bulk loader, stats, saved queries."""
