"""Cypher that cosmo-kg ships as data: the schema and the saved exploration queries."""
