"""Build the shipped critic data and the default critic (maintainers only; needs ../shared/data).

Writes under cosmo_kg/samples/critic/:
  annotations.parquet   FolkScope (silver) + IntentionQA (human typicality, distractors as negatives)
                        + constructed search-buy examples from the WANDS queries (refinement/search_buy.py)
  task1.parquet         IntentionQA task 1 questions (4 options, gold index)
  restatements.parquet  the labelled restating tails: one per WANDS query, one per title of 120 pairs
  catalogue_words.txt   the words of at least 1% of the training pairs' product titles (the
                        informativeness rule's category words)
  default/              the default ``embedding-lr`` critic, trained on the IntentionQA and WANDS
                        annotations of the training split of pairs (the same as ``cosmo-kg critic
                        train`` with defaults), with its held-out ``evaluation.json`` and
                        ``reliability.png``
The project never runs this at run time; the outputs are committed.

    python scripts/build_critic_sample.py [SHARED_DATA_DIR] [EMBEDDING_CACHE_DIR]
    python scripts/build_critic_sample.py --critic-only   # retrain default/ from the committed data
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.refinement.informativeness import CATALOGUE_FILE, catalogue_words_of
from cosmo_kg.refinement.informativeness_report import informativeness_report
from cosmo_kg.refinement.public_annotations import import_public, intentionqa_task1
from cosmo_kg.refinement.search_buy import (
    read_queries,
    restatement_set,
    search_buy_annotations,
    title_restatement_set,
)
from cosmo_kg.refinement.training import DEFAULT_SOURCES, CriticTrainConfig, read_annotations, train

OUT = Path(__file__).resolve().parent.parent / "cosmo_kg" / "samples" / "critic"
PARQUET = {"compression": "zstd", "compression_level": 19}


def build_data(shared: Path) -> None:
    queries = read_queries(str(shared / "wands_queries" / "query.csv"))
    annotations = pl.concat([import_public(shared), search_buy_annotations(queries)])
    annotations.write_parquet(OUT / "annotations.parquet", **PARQUET)
    task1 = intentionqa_task1(shared / "intentionqa" / "QA_fullInfo_task1.jsonl")
    task1.write_parquet(OUT / "task1.parquet", **PARQUET)
    columns = [
        "behavior_id",
        "kind",
        "query",
        "title",
        "title_b",
        "product_type",
        "relation",
        "template",
        "tail",
        "statement",
    ]
    restatements = pl.concat(
        [
            restatement_set(queries).with_columns(title_b=pl.lit(None, pl.String())),
            title_restatement_set(task1),
        ],
        how="diagonal_relaxed",
    ).select(columns)
    restatements.write_parquet(OUT / "restatements.parquet", **PARQUET)
    write_catalogue_words(annotations)


def write_catalogue_words(annotations: pl.DataFrame) -> None:
    """Category words from the titles of the training pairs only (held-out pairs stay unseen)."""
    training = annotations.filter(~in_test_split(annotations["behavior_id"], 0.2, 0))
    titles = pl.concat([training["title"], training["title_b"]]).drop_nulls().to_list()
    (OUT / CATALOGUE_FILE).write_text("\n".join(catalogue_words_of(titles)) + "\n", encoding="utf-8")


def main(shared: Path | None, cache_dir: str) -> None:
    """Build the data from ``shared`` (None: keep the committed data), then train the default critic."""
    OUT.mkdir(parents=True, exist_ok=True)
    if shared is not None:
        build_data(shared)
    output = OUT / "default"
    report = train(
        CriticTrainConfig(
            annotations=OUT / "annotations.parquet",
            output=output,
            task1=OUT / "task1.parquet",
            sources=DEFAULT_SOURCES,
            embedding=EmbeddingSettings(cache_dir=cache_dir),
            diagram=output / "reliability.png",
        )
    )
    gold = read_annotations(OUT / "annotations.parquet", ("intentionqa",))
    restating = informativeness_report(pl.read_parquet(OUT / "restatements.parquet"), gold)
    payload = asdict(report) | {"informativeness": asdict(restating)}
    text = json.dumps(payload, indent=2, default=str) + "\n"
    (output / "evaluation.json").write_text(text, encoding="utf-8")
    print(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--critic-only"]:
        main(None, "")
    else:
        main(
            Path(arguments[0] if arguments else "../shared/data"), arguments[1] if len(arguments) > 1 else ""
        )
