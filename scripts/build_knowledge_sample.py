"""Build the bundled knowledge sample from IntentionQA (maintainers only; needs ../shared/data).

Writes cosmo_kg/samples/intentionqa_knowledge.parquet and intentionqa_products.parquet:
human-judged typical co-buy intentions of real Amazon product pairs, mapped onto the COSMO
relations. The project never runs this at run time; the outputs are committed.

    python scripts/build_knowledge_sample.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import polars as pl

from cosmo_kg.refinement.public_annotations import folkscope_domains

# FolkScope relation -> (COSMO relation, prefix of the assertion that precedes the tail)
RELATION_MAP = {
    "capableOf": ("CAPABLE_OF", r"because they both are capable of "),
    "usedFor": ("USED_FOR_FUNC", r"because they are both used for "),
    "isA": ("IS_A", r"because they both are a type of "),
    "can": ("CAPABLE_OF", r"because they could both "),
    "cause": ("xWANT", r"because the person wants to "),
    "effect": ("xWANT", r"as a result, the person will "),
    "relatedTo": ("xINTERESTED_IN", r"because they both are related to (?:the topic of )?"),
}
OUT = Path(__file__).resolve().parent.parent / "cosmo_kg" / "samples"


def tail_of(assertion: str, prefix: str) -> str | None:
    match = re.search(prefix + r"(.+)", assertion)
    if not match:
        return None
    tail = match.group(1).strip().rstrip(".").strip().strip('"').strip()
    return tail or None


def main(shared: Path) -> None:
    lines = (shared / "intentionqa" / "QA_fullInfo_task1_byRelation.jsonl").read_text().splitlines()
    domains = folkscope_domains(shared)
    knowledge, products = [], {}
    for row in map(json.loads, lines):
        if row["relation"] not in RELATION_MAP:
            continue
        relation, prefix = RELATION_MAP[row["relation"]]
        tail = tail_of(row["assertion"], prefix)
        if tail is None:
            continue
        a, b = row["item_a_id"], row["item_b_id"]
        domain = domains.get(a) or domains.get(b) or "Others"
        for asin, title in ((a, row["item_a_name"]), (b, row["item_b_name"])):
            products.setdefault(
                asin, {"product_id": asin, "title": html.unescape(title), "domain": domains.get(asin, domain)}
            )
        knowledge.append(
            {
                "behavior_id": f"intentionqa:{row['id']}",
                "kind": "co_buy",
                "query": None,
                "product_id": a,
                "product_id_b": b,
                "relation": relation,
                "tail": tail,
                "tail_type": None,
                "plausibility": 1.0,
                "typicality": float(row["typicality"]),
                "support": 1,
                "model": "human:intentionqa",
                "run_id": "intentionqa-2b647b4",
            }
        )
    pl.DataFrame(knowledge).write_parquet(OUT / "intentionqa_knowledge.parquet")
    pl.DataFrame(list(products.values())).sort("product_id").write_parquet(
        OUT / "intentionqa_products.parquet"
    )
    print(f"{len(knowledge)} knowledge rows, {len(products)} products -> {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
