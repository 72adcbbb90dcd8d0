"""Importers for the public annotation files: FolkScope (silver Yes/No) and IntentionQA (human typicality).

Both describe real Amazon co-buy pairs with an assertion "PersonX bought A and B because ...". The
importers turn them into annotation rows (``ANNOTATIONS``): the clause after "because" is the
statement, the COSMO relation is read from its opening words where one fits. IntentionQA's gold
assertions are positives (plausible, typicality as judged by people); its distractors, assertions
written for other pairs, are the negatives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.refinement.annotations import ANNOTATIONS, pair_behavior_id
from cosmo_kg.vocabulary import BehaviorKind, normalize_domain

_ASSERTION_HEAD = re.compile(r"^.*?\bItem B\b\s*", re.IGNORECASE)

# Opening words of a FolkScope statement -> COSMO relation (paper Table 2 counterparts).
STATEMENT_RELATIONS: tuple[tuple[str, str], ...] = (
    ("they both are capable of", "CAPABLE_OF"),
    ("they could both", "CAPABLE_OF"),
    ("they are both used for", "USED_FOR_FUNC"),
    ("they both are a type of", "IS_A"),
    ("the person wants to", "xWANT"),
    ("as a result, the person will", "xWANT"),
    ("they both are related to", "xINTERESTED_IN"),
)

FOLKSCOPE_FILES = "folkscope_cobuy_intentions/*.csv"
INTENTIONQA_FILES = ("intentionqa/QA_fullInfo_task1.jsonl", "intentionqa/QA_fullInfo_task1_byRelation.jsonl")


def statement_of(assertion: str) -> str:
    """The clause that explains the purchase: "they both are capable of X" (no "because", no period)."""
    text = _ASSERTION_HEAD.sub("", assertion.strip())
    text = re.sub(r"^because\s+", "", text, flags=re.IGNORECASE)
    return text.strip().rstrip(".").strip()


def relation_of(statement: str) -> str | None:
    lowered = statement.lower()
    for opening, relation in STATEMENT_RELATIONS:
        if lowered.startswith(opening):
            return relation
    return None


def _row(
    source: str,
    annotator: str,
    a: str,
    b: str,
    title_a: str,
    title_b: str,
    domain: str,
    statement: str,
    plausibility: float,
    typicality: float | None,
) -> dict[str, Any]:
    behavior_id = pair_behavior_id(a, b)
    return {
        "annotation_id": f"{source}:{annotator}:{behavior_id}:{statement.lower()}",
        "source": source,
        "annotator": annotator,
        "behavior_id": behavior_id,
        "kind": BehaviorKind.CO_BUY.value,
        "query": None,
        "product_id": a,
        "product_id_b": b,
        "title": title_a,
        "title_b": title_b,
        "domain": domain,
        "relation": relation_of(statement),
        "tail": statement,
        "statement": statement,
        "plausibility": plausibility,
        "typicality": typicality,
    }


def _intentionqa_rows(path: Path, domains: dict[str, str]) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        a, b = item["item_a_id"], item["item_b_id"]
        domain = domains.get(a) or domains.get(b) or normalize_domain(None)
        context = (a, b, item["item_a_name"], item["item_b_name"], domain)
        yield _row(
            "intentionqa", "human", *context, statement_of(item["assertion"]), 1.0, float(item["typicality"])
        )
        for distractor in item["distractors_asserstion"]:
            yield _row("intentionqa", "distractor", *context, statement_of(distractor), 0.0, 0.0)


def _folkscope_rows(path: Path) -> Iterator[dict[str, Any]]:
    frame = pl.read_csv(path, infer_schema_length=0)
    for record in frame.iter_rows(named=True):
        for slot in ("1", "2"):
            agreement = (record[f"Agreement_{slot}"] or "").strip().lower()
            if not agreement.startswith(("yes", "no")):
                continue
            yield _row(
                "folkscope",
                "lvlm",
                record[f"id_a_{slot}"],
                record[f"id_b_{slot}"],
                record[f"Product_a_{slot}"],
                record[f"Product_b_{slot}"],
                normalize_domain(record[f"item_a_cate_{slot}"]),
                statement_of(record[f"tail_{slot}"]),
                1.0 if agreement.startswith("yes") else 0.0,
                None,
            )


def folkscope_domains(data_dir: Path) -> dict[str, str]:
    """ASIN -> COSMO domain, from the FolkScope files' Amazon top categories."""
    domains: dict[str, str] = {}
    for path in sorted(data_dir.glob(FOLKSCOPE_FILES)):
        frame = pl.read_csv(path, infer_schema_length=0)
        for slot in ("1", "2"):
            for side in ("a", "b"):
                for asin, category in zip(
                    frame[f"id_{side}_{slot}"], frame[f"item_{side}_cate_{slot}"], strict=True
                ):
                    domains[asin] = normalize_domain(category)
    return domains


def import_public(data_dir: Path) -> pl.DataFrame:
    """All annotations in the public data folder (``folkscope_cobuy_intentions/``, ``intentionqa/``).

    Raises:
        InputError: neither data set is in ``data_dir``.
    """
    folkscope = sorted(data_dir.glob(FOLKSCOPE_FILES))
    intentionqa = [data_dir / name for name in INTENTIONQA_FILES if (data_dir / name).exists()]
    if not folkscope and not intentionqa:
        raise InputError(
            f"{data_dir}: no FolkScope or IntentionQA files found",
            hint=f"expected {FOLKSCOPE_FILES} and/or {', '.join(INTENTIONQA_FILES)}",
        )
    domains = folkscope_domains(data_dir)
    rows = [r for path in intentionqa for r in _intentionqa_rows(path, domains)]
    rows += [r for path in folkscope for r in _folkscope_rows(path)]
    frame = pl.DataFrame(rows, schema=ANNOTATIONS.columns)
    return frame.unique("annotation_id", keep="first", maintain_order=True)


def import_public_files(data_dir: Path, output: Path, task1: Path | None = None) -> tuple[int, int]:
    """Write ``import_public(data_dir)`` to ``output`` (and task 1 questions to ``task1``); returns
    the numbers of annotations and questions written."""
    frame = import_public(data_dir)
    write_parquet_atomic(frame, output)
    if task1 is None:
        return frame.height, 0
    questions = intentionqa_task1(data_dir / INTENTIONQA_FILES[0])
    write_parquet_atomic(questions, task1)
    return frame.height, questions.height


def intentionqa_task1(path: Path) -> pl.DataFrame:
    """IntentionQA task 1 as a frame: one row per question with its 4 options and the gold index."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        letters = sorted(item["options"])
        if item["gold_ind"] not in letters:
            continue
        questions.append(
            {
                "question_id": item["id"],
                "behavior_id": pair_behavior_id(item["item_a_id"], item["item_b_id"]),
                "title": item["item_a_name"],
                "title_b": item["item_b_name"],
                "options": [statement_of(item["options"][k]) for k in letters],
                "gold": letters.index(item["gold_ind"]),
            }
        )
    return pl.DataFrame(questions)
