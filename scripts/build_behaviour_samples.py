"""Build the bundled behaviour samples (maintainers only; needs ../shared/data).

Writes into cosmo_kg/samples/ (see SOURCE.md there for origins and licenses):
- cobuy_folkscope.csv.gz: the first 120 rows of a FolkScope annotation CSV, real co-buy pairs
  with titles and categories, only the columns the ``folkscope`` adapter reads (+ Cate, Relation);
- cobuy_intentionqa.jsonl.gz: the first 150 lines of IntentionQA task 1 (pairs, titles, assertion);
- wands_queries.tsv: the WANDS query file as published (480 real queries, tab-separated);
- wands_products.parquet: a HAND-MADE catalog, one made-up product per WANDS query class, so the
  real queries can be paired with products. Not real products: brand ``hand-made sample``.

The project never runs this at run time; the outputs are committed.

    python scripts/build_behaviour_samples.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
from pathlib import Path

import polars as pl

OUT = Path(__file__).resolve().parent.parent / "cosmo_kg" / "samples"
FOLKSCOPE_ROWS = 120
INTENTIONQA_LINES = 150
FOLKSCOPE_SLOT_COLUMNS = (
    "id_a",
    "id_b",
    "Product_a",
    "Product_b",
    "Cate",
    "Relation",
    "item_a_cate",
    "item_b_cate",
)
FOLKSCOPE_COLUMNS = [f"{c}_{s}" for s in ("1", "2") for c in FOLKSCOPE_SLOT_COLUMNS]
INTENTIONQA_KEYS = ["id", "item_a_id", "item_b_id", "item_a_name", "item_b_name", "assertion", "typicality"]

# Hand-made: which of the 18 domains a Wayfair product class belongs to (first keyword wins).
DOMAIN_KEYWORDS = [
    (
        "Patio, Lawn & Garden",
        (
            "outdoor",
            "patio",
            "garden",
            "planter",
            "pergola",
            "awning",
            "deck box",
            "fountain",
            "lawn",
            "landscape",
            "fencing",
            "mailbox",
            "log storage",
            "swing set",
            "wreath",
            "weather",
        ),
    ),
    ("Baby Products", ("kids", "crib", "nursery")),
    ("Toys & Games", ("toy", "playhouse", "play tent", "licensed")),
    ("Pet Supplies", ("pet", "dog", "cat ", "bird")),
    ("Sports & Outdoors", ("weights", "bike", "sauna", "massage")),
    ("Office Products", ("office", "desk", "chairmat", "memo board", "lectern", "projector")),
    (
        "Tools & Home Improvement",
        (
            "faucet",
            "sink",
            "vanit",
            "light",
            "lamp",
            "sconce",
            "chandelier",
            "fan",
            "bulb",
            "tile",
            "molding",
            "door",
            "pull",
            "knob",
            "hardware",
            "shower",
            "tub",
            "toilet",
            "detector",
            "wall plate",
            "range hood",
            "wallpaper",
            "hook",
        ),
    ),
    ("Home & Kitchen", ()),
]


def domain_of(product_class: str) -> str:
    key = product_class.lower()
    for domain, words in DOMAIN_KEYWORDS:
        if not words or any(word in key for word in words):
            return domain
    return "Home & Kitchen"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_gzip(path: Path, text: str) -> None:
    """gzip with a fixed mtime, so rebuilding gives identical bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def build_folkscope(shared: Path) -> int:
    source = shared / "folkscope_cobuy_intentions" / "crowdsourcing_integrate_4500_b1.csv"
    frame = pl.read_csv(source, infer_schema=False).head(FOLKSCOPE_ROWS).select(FOLKSCOPE_COLUMNS)
    buffer = io.StringIO()
    frame.write_csv(buffer)
    write_gzip(OUT / "cobuy_folkscope.csv.gz", buffer.getvalue())
    return frame.height


def build_intentionqa(shared: Path) -> int:
    lines = (shared / "intentionqa" / "QA_fullInfo_task1.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [
        json.dumps({k: row[k] for k in INTENTIONQA_KEYS}, ensure_ascii=False)
        for row in map(json.loads, lines[:INTENTIONQA_LINES])
    ]
    write_gzip(OUT / "cobuy_intentionqa.jsonl.gz", "\n".join(kept) + "\n")
    return len(kept)


def build_wands(shared: Path) -> int:
    source = shared / "wands_queries" / "query.csv"
    (OUT / "wands_queries.tsv").write_bytes(source.read_bytes())
    classes = (
        pl.read_csv(source, separator="\t", infer_schema=False)["query_class"]
        .drop_nulls()
        .unique()
        .sort()
        .to_list()
    )
    products = pl.DataFrame(
        [
            {
                "product_id": f"handmade-{slug(name)}",
                "title": f"{name} (hand-made sample product)",
                "product_type": name,
                "domain": domain_of(name),
                "brand": "hand-made sample",
                "description": f"A made-up product standing for the Wayfair product class {name!r}; "
                "not a real catalog item.",
                "popularity": None,
            }
            for name in classes
        ],
        schema_overrides={"popularity": pl.Float64()},
    )
    products.write_parquet(OUT / "wands_products.parquet")
    return products.height


def main(shared: Path) -> None:
    print(f"cobuy_folkscope.csv.gz: {build_folkscope(shared)} rows")
    print(f"cobuy_intentionqa.jsonl.gz: {build_intentionqa(shared)} lines")
    print(f"wands_queries.tsv + wands_products.parquet: {build_wands(shared)} hand-made products")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
