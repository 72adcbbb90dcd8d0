"""Ingest: everything that goes into the graph enters through ``cosmo-kg ingest``.

Library entry points (the CLI and ``cosmo-kg refresh`` call these):
``run_products``, ``run_search_buy``, ``run_co_buy``, ``run_events`` (→ ``IngestReport``) and
``sample`` (→ ``SampleReport``).
"""
