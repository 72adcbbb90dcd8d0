"""Build generation/prompts/exemplars_intentionqa.toml: gold co-buy exemplars for the prompts.

Reads the bundled IntentionQA sample (cosmo_kg/samples/intentionqa_*.parquet: human-judged
typical intentions of real Amazon co-buy pairs, see cosmo_kg/samples/SOURCE.md) and keeps,
per relation, the most typical assertions whose tail is a short phrase. The output is
committed prompt data; the project never runs this script at run time.

    python scripts/build_exemplars.py [PER_RELATION]
"""

from __future__ import annotations

import html
import json
import sys
from importlib import resources
from pathlib import Path

import polars as pl

OUT = Path(__file__).resolve().parent.parent / "generation" / "prompts" / "exemplars_intentionqa.toml"
SHORT_PHRASE = r"^[A-Za-z][A-Za-z' -]{1,40}$"
MAX_TAIL_WORDS = 4
# Assertions that name no intention ("product that he needed") are useless as examples.
VAGUE_TAIL = r"\bproducts?\b|\bthings?\b|\bitems?\b"
TITLE_WORDS = 8
HEADER = """\
# Gold co-buy exemplars from IntentionQA (human typicality 0.6-1.0), built by
# scripts/build_exemplars.py from cosmo_kg/samples/intentionqa_*.parquet; do not edit by hand.
# Titles are shortened to their first {words} words. Each exemplar keeps its pair's product
# ids so that the generator never shows a pair its own gold answer.

kind = "co_buy"
source = "intentionqa"
version = 1
"""


def short_title(title: str) -> str:
    return " ".join(html.unescape(title).split()[:TITLE_WORDS]).rstrip(",;:-")


def gold_exemplars(per_relation: int) -> pl.DataFrame:
    samples = resources.files("cosmo_kg.samples")
    knowledge = pl.read_parquet(samples.joinpath("intentionqa_knowledge.parquet").read_bytes())
    products = pl.read_parquet(samples.joinpath("intentionqa_products.parquet").read_bytes())
    titles = products.select("product_id", "title")
    good = (
        knowledge.filter(
            pl.col("tail").str.contains(SHORT_PHRASE),
            ~pl.col("tail").str.to_lowercase().str.contains(VAGUE_TAIL),
            pl.col("tail").str.split(" ").list.len() <= MAX_TAIL_WORDS,
        )
        .with_columns(pl.col("tail").str.to_lowercase())
        .join(titles, on="product_id")
        .join(titles.rename({"product_id": "product_id_b", "title": "title_b"}), on="product_id_b")
    )
    grouped = (
        good.group_by("relation", "product_id", "product_id_b", "title", "title_b")
        .agg(
            pl.col("tail").unique(maintain_order=True),
            pl.col("typicality").max(),
            pl.col("behavior_id").min(),
        )
        .sort(["relation", "typicality", "behavior_id"], descending=[False, True, False])
    )
    return grouped.group_by("relation", maintain_order=True).head(per_relation)


def to_toml(exemplars: pl.DataFrame) -> str:
    lines = [HEADER.format(words=TITLE_WORDS)]
    for (relation,), rows in exemplars.partition_by("relation", as_dict=True, maintain_order=True).items():
        lines += [f"[relations.{relation}]", "exemplars = ["]
        for row in rows.iter_rows(named=True):
            fields = {
                "id": row["behavior_id"],
                "product_id": row["product_id"],
                "product_id_b": row["product_id_b"],
                "title": short_title(row["title"]),
                "title_b": short_title(row["title_b"]),
                "tails": row["tail"],
            }
            body = ", ".join(
                f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()
            )
            lines.append(f"  {{ {body} }},")
        lines += ["]", ""]
    return "\n".join(lines)


def main(per_relation: int) -> None:
    OUT.write_text(to_toml(gold_exemplars(per_relation)), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
