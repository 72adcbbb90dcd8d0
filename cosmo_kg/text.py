"""Text normalisation shared by every stage, in plain Python and as polars expressions.

Both forms must agree: ids and graph keys computed by one stage are looked up by another.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

_SPACES = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """NFKC, collapse runs of white space, strip."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def text_key(value: str) -> str:
    """The lookup key of a query or intention: cleaned and lower-cased."""
    return clean_text(value).lower()


def clean_text_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars twin of :func:`clean_text`."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.str.normalize("NFKC").str.replace_all(r"\s+", " ").str.strip_chars()


def text_key_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars twin of :func:`text_key`."""
    return clean_text_expr(column).str.to_lowercase()
