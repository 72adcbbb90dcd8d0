"""Kept so that older imports keep working: the explanation clauses live in ``clauses``."""

from cosmo_kg.refinement.clauses import content_of, context_sides, statement_expr

__all__ = ["content_of", "context_sides", "statement_expr"]
