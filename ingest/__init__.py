"""Ingest: everything that goes into the graph enters through ``cosmo-kg ingest``."""
