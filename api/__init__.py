"""Serving: the GraphQL API, semantic index, caches and the read-only Cypher console."""
