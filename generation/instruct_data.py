"""``instruct build``: COSMO-LM instruction data from the project's own human-judged inputs.

Five tasks (SPEC §1.5), each with three phrasings:

1. ``generation`` — pair + relation -> typical tails. Phrasing 0 is exactly the prompt that
   ``cosmo-kg generate`` renders without worked examples, so the tuned model is asked at run
   time what it was trained on; the answer is the numbered list the parser reads.
2. ``plausibility`` — is this explanation of the pair plausible? (IntentionQA gold and its
   distractors, FolkScope silver Yes/No)
3. ``typicality`` — is it a typical reason for buying the pair? (IntentionQA human-judged typical
   assertions vs distractors written for other pairs)
4. ``co_buy`` — would the two products be bought together? (real pairs vs sampled non-pairs)
5. ``search_relevance`` — does the product fit the query? (WANDS queries with a product of their
   class vs a product of another class)

Every example belongs to one behaviour pair; the split is the critic's (``in_test_split`` on
``behavior_id``), so the tuned model and the critic are evaluated on pairs neither trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import write_text_atomic
from cosmo_kg.generation import instruct_templates as templates
from cosmo_kg.generation.instruct_sources import (
    Example,
    co_buy_examples,
    co_buy_pairs,
    generation_examples,
    gold_tails,
    judgement_examples,
    read_sample,
    search_buy_pairs,
    search_relevance_examples,
)
from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.vocabulary import BehaviorKind

TASKS = ("generation", "plausibility", "typicality", "co_buy", "search_relevance")
SPLITS = ("train", "eval")
FORMATS = ("chat", "instruction")


@dataclass(frozen=True)
class InstructConfig:
    """Where to write the data, and the split and balance policy.

    ``test_fraction`` and ``seed`` must stay those of the critic (0.2, 0) so that both are
    evaluated on the same held-out pairs.
    """

    out: Path
    test_fraction: float = 0.2
    seed: int = 0
    max_per_group: int = 600  # examples per (task, relation or label, domain): no group dominates
    max_tails: int = 5


@dataclass
class InstructReport:
    out_dir: str
    examples: dict[str, int]
    pairs: dict[str, int]
    by_task: dict[str, dict[str, int]] = field(default_factory=dict)
    by_relation: dict[str, int] = field(default_factory=dict)
    by_domain: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- assembly ----------------------------------------------------------------------------------------


def all_examples(config: InstructConfig) -> list[Example]:
    """Every example of the five tasks, before the split (deterministic for a seed)."""
    annotations = (
        read_sample("critic/annotations.parquet")
        .filter(pl.col("kind") == BehaviorKind.CO_BUY.value)
        .sort("annotation_id")
    )
    examples = list(generation_examples(gold_tails(config.max_tails)))
    examples += judgement_examples(annotations)
    examples += co_buy_examples(co_buy_pairs(), config.seed)
    examples += search_relevance_examples(search_buy_pairs(), config.seed)
    return examples


def balance(examples: list[Example], cap: int) -> list[Example]:
    """At most ``cap`` examples per (task, relation or label, domain), chosen by a stable hash."""
    ordered = sorted(examples, key=lambda e: hashlib.sha256(e.example_id.encode()).hexdigest())
    counts: Counter[tuple[str, str, str]] = Counter()
    kept = []
    for example in ordered:
        group = (example.task, example.relation or example.label, example.domain)
        counts[group] += 1
        if counts[group] <= cap:
            kept.append(example)
    return sorted(kept, key=lambda e: (e.task, e.behavior_id, e.template, e.example_id))


def split_of(examples: list[Example], config: InstructConfig) -> dict[str, str]:
    """behavior_id -> "train" | "eval": the critic's held-out split of pairs."""
    ids = pl.Series("behavior_id", sorted({e.behavior_id for e in examples}), dtype=pl.String)
    held_out = in_test_split(ids, config.test_fraction, config.seed)
    return {key: "eval" if test else "train" for key, test in zip(ids, held_out, strict=True)}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), path)


def _format(record: dict[str, Any], form: str) -> dict[str, Any]:
    meta = {k: record[k] for k in ("id", "task", "template", "behavior_id", "relation", "domain", "source")}
    if form == "chat":
        return meta | {"messages": record["messages"]}
    return meta | {k: record[k] for k in ("instruction", "input", "output")}


def build(config: InstructConfig) -> InstructReport:
    """Build the instruction data set into ``config.out``.

    Writes ``{train,eval}.jsonl`` (chat ``messages`` form), ``{train,eval}.instruction.jsonl``
    (instruction/input/output form) and the dataset card ``card.json`` + ``README.md``.

    Raises:
        InputError: ``config.out`` exists and is not a directory.
    """
    if config.out.exists() and not config.out.is_dir():
        raise InputError(f"{config.out} is not a directory", hint="pass a directory for --out")
    raw = all_examples(config)
    unique, dropped = _dedupe_list(raw)
    examples = balance(unique, config.max_per_group)
    splits = split_of(examples, config)
    records = [e.record(splits[e.behavior_id]) for e in examples]
    config.out.mkdir(parents=True, exist_ok=True)
    report = card(records, config.out, dropped)
    for split in SPLITS:
        chosen = [r for r in records if r["split"] == split]
        for form, suffix in (("chat", ".jsonl"), ("instruction", ".instruction.jsonl")):
            path = config.out / f"{split}{suffix}"
            _write_jsonl(path, [_format(r, form) for r in chosen])
            report.files.append(str(path))
    (config.out / "card.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    (config.out / "README.md").write_text(templates.card_markdown(report.to_dict()), encoding="utf-8")
    return report


def _dedupe_list(examples: list[Example]) -> tuple[list[Example], int]:
    seen: set[str] = set()
    kept = []
    for example in examples:
        key = json.dumps([example.task, example.messages], sort_keys=True).lower()
        if key not in seen:
            seen.add(key)
            kept.append(example)
    return kept, len(examples) - len(kept)


def card(records: list[dict[str, Any]], out: Path, dropped: int) -> InstructReport:
    """Counts per split, task, relation, domain and source (the dataset card's numbers)."""
    by_task: dict[str, dict[str, int]] = {}
    for record in records:
        by_task.setdefault(record["task"], Counter())[record["split"]] += 1
    return InstructReport(
        out_dir=str(out),
        examples=dict(Counter(r["split"] for r in records)),
        pairs={s: len({r["behavior_id"] for r in records if r["split"] == s}) for s in SPLITS},
        by_task={t: dict(c) for t, c in sorted(by_task.items())},
        by_relation=dict(
            sorted(Counter(r["relation"] for r in records if r["task"] == "generation").items())
        ),
        by_domain=dict(sorted(Counter(r["domain"] for r in records).items())),
        by_source=dict(sorted(Counter(r["source"] for r in records).items())),
        duplicates_dropped=dropped,
    )
