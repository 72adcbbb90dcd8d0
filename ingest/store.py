"""The behaviour store: the catalog and behaviour counts of every ingested increment, as Parquet.

Layout under ``<workspace>/behaviours/``::

    manifest.json                    committed increments, in ingestion order
    products/<increment>.parquet     catalog rows of one increment
    search_buy/<increment>.parquet   (query, product_id, count) of one increment
    co_buy/<increment>.parquet       (product_id_a, product_id_b, count), a < b

An increment is identified by its content (or by an explicit ``--day`` label), so ingesting
the same day twice rewrites the same part and changes nothing, while a new day adds a part.
Merged views sum counts over parts; for the catalog the latest increment wins per product.
Parts are written to a temporary name and renamed; the manifest, replaced atomically after the
parts, is the commit point, so a killed ingest leaves the store as it was.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from cosmo_kg.files import write_parquet_atomic, write_text_atomic
from cosmo_kg.schemas import PRODUCTS
from cosmo_kg.vocabulary import OTHER_DOMAIN

STORE_DIR = "behaviours"
PARTS = ("products", "search_buy", "co_buy")
SEARCH_BUY_KEY = ("query", "product_id")
CO_BUY_KEY = ("product_id_a", "product_id_b")
SEARCH_BUY_SCHEMA = pl.Schema({"query": pl.String(), "product_id": pl.String(), "count": pl.Int64()})
CO_BUY_SCHEMA = pl.Schema({"product_id_a": pl.String(), "product_id_b": pl.String(), "count": pl.Int64()})


@dataclass(frozen=True)
class Increment:
    """One committed increment: which parts it wrote and where it came from."""

    increment_id: str
    sequence: int
    command: str
    source: str
    parts: dict[str, int]
    ingested_at: str


class BehaviourStore:
    """Read and commit increments of one workspace's behaviour store."""

    def __init__(self, workspace_dir: str | Path) -> None:
        self.root = Path(workspace_dir) / STORE_DIR
        self.manifest_path = self.root / "manifest.json"

    def increments(self) -> list[Increment]:
        if not self.manifest_path.exists():
            return []
        raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return [Increment(**item) for item in raw["increments"]]

    def find(self, increment_id: str) -> Increment | None:
        return next((i for i in self.increments() if i.increment_id == increment_id), None)

    def part_path(self, part: str, increment_id: str) -> Path:
        return self.root / part / f"{increment_id}.parquet"

    def staging_dir(self, increment_id: str) -> Path:
        return self.root / "staging" / increment_id

    def commit(
        self, increment_id: str, command: str, source: str, parts: dict[str, pl.DataFrame]
    ) -> Increment:
        """Write the parts of one increment and record it; re-committing an id replaces its parts."""
        for part, frame in parts.items():
            write_parquet_atomic(frame, self.part_path(part, increment_id))
        increments = self.increments()
        previous = next((i for i in increments if i.increment_id == increment_id), None)
        sequence = previous.sequence if previous else 1 + max((i.sequence for i in increments), default=0)
        entry = Increment(
            increment_id,
            sequence,
            command,
            source,
            {p: f.height for p, f in parts.items()},
            datetime.now(UTC).isoformat(),
        )
        kept = [i for i in increments if i.increment_id != increment_id]
        self._write_manifest(sorted([*kept, entry], key=lambda i: i.sequence))
        return entry

    def _write_manifest(self, increments: list[Increment]) -> None:
        write_text_atomic(
            json.dumps({"increments": [asdict(i) for i in increments]}, indent=2), self.manifest_path
        )

    def _parts(self, part: str) -> list[tuple[int, Path]]:
        return [
            (i.sequence, self.part_path(part, i.increment_id)) for i in self.increments() if part in i.parts
        ]

    def catalog(self) -> pl.LazyFrame:
        """The merged catalog (products.parquet columns): per product and column, the latest
        increment that gives a value wins; a product without a domain is in ``Others``."""
        parts = self._parts("products")
        if not parts:
            return PRODUCTS.empty().lazy()
        frames = [pl.scan_parquet(path).with_columns(pl.lit(seq).alias("sequence")) for seq, path in parts]
        values = [c for c in PRODUCTS.columns if c != "product_id"]
        return (
            pl.concat(frames)
            .sort("sequence", maintain_order=True)
            .group_by("product_id", maintain_order=True)
            .agg(pl.col(c).drop_nulls().last() for c in values)
            .with_columns(pl.col("domain").fill_null(OTHER_DOMAIN))
            .select(list(PRODUCTS.columns))
            .sort("product_id")
        )

    def catalog_ids(self) -> pl.Series | None:
        """Known product ids, or None when no catalog was ingested (nothing to check against)."""
        paths = [path for _, path in self._parts("products")]
        if not paths:
            return None
        return pl.scan_parquet(paths).select(pl.col("product_id").unique()).collect()["product_id"]

    def search_buy(self) -> pl.LazyFrame:
        """Merged search-buy counts over every increment."""
        return self._summed("search_buy", SEARCH_BUY_KEY, SEARCH_BUY_SCHEMA)

    def co_buy(self) -> pl.LazyFrame:
        """Merged co-buy counts over every increment (product_id_a < product_id_b)."""
        return self._summed("co_buy", CO_BUY_KEY, CO_BUY_SCHEMA)

    def _summed(self, part: str, key: tuple[str, ...], schema: pl.Schema) -> pl.LazyFrame:
        paths = [path for _, path in self._parts(part)]
        if not paths:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(paths).group_by(*key).agg(pl.col("count").sum()).sort(*key)

    def totals(self) -> dict[str, int]:
        return {
            "products": self.catalog().select(pl.len()).collect().item(),
            "search_buy_pairs": self.search_buy().select(pl.len()).collect().item(),
            "co_buy_pairs": self.co_buy().select(pl.len()).collect().item(),
        }
