"""``instruct eval``: the base model vs COSMO-LM (base + adapter), side by side, on held-out pairs.

The pairs are those of the critic's held-out split (``in_test_split``), which neither the
adapter nor the critic trained on: IntentionQA co-buy pairs with a task-1 question, and WANDS
search-buy pairs. Both models run the real generate stage (same prompts, parser and backend;
the base with today's worked examples, the tuned model without), then the shipped critic, the
embeddings and the Yes/No tasks measure them (see ``lm_metrics``). The naive way — the two
product titles used as the "tails" — is scored on the same questions.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.generation import lm_metrics
from cosmo_kg.generation.backend import BackendSettings
from cosmo_kg.generation.instruct_data import TASKS
from cosmo_kg.generation.instruct_sources import search_buy_pairs
from cosmo_kg.generation.runner import GenerateConfig, run
from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.refinement.runner import default_critic_dir
from cosmo_kg.samples.pairs import SAMPLES
from cosmo_kg.schemas import PAIRS, PRODUCTS
from cosmo_kg.settings import load_settings

EVAL_RELATIONS = "CAPABLE_OF,xWANT"
KEEP = 0.5  # the refine stage's default min_plausibility


@dataclass(frozen=True)
class LmEvalConfig:
    """What to compare, on how many held-out pairs; ``data`` is an ``instruct build`` directory."""

    data: Path
    out: Path
    adapter: str = "default"
    backend: str = "llama_cpp"
    questions: int = 60
    search_pairs: int = 20
    relations: str = EVAL_RELATIONS
    judge_examples: int = 60
    max_new_tokens: int = 40
    threads: int = 0
    test_fraction: float = 0.2
    seed: int = 0


@dataclass
class ModelScores:
    model: str
    exemplars: int
    prompts: int
    candidates: int
    seconds: float
    pairs_per_second: float
    typical_yield: float | None
    typical_share: float | None
    copy_rate: float | None
    copy_rate_search_buy: float | None
    distinct_tails_per_pair: float
    gold_match: dict[str, Any]
    tasks: dict[str, float] = field(default_factory=dict)  # threshold calibrated on training examples
    tasks_argmax: dict[str, float] = field(default_factory=dict)  # "Yes" logit above "No" logit


@dataclass
class LmEvalReport:
    held_out: dict[str, int]
    relations: str
    backend: str
    base: ModelScores
    tuned: ModelScores
    naive_titles_gold_match: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(name: str) -> pl.DataFrame:
    return pl.read_parquet(SAMPLES.joinpath(name).read_bytes())


def _spread(frame: pl.DataFrame, count: int) -> pl.DataFrame:
    if frame.height <= count:
        return frame
    return frame[[int(i * frame.height / count) for i in range(count)]]


def held_out_questions(config: LmEvalConfig) -> pl.DataFrame:
    """Task-1 questions of held-out pairs, spread over the split, one per pair."""
    questions = (
        _read("critic/task1.parquet")
        .sort("question_id")
        .unique("behavior_id", keep="first", maintain_order=True)
    )
    held = questions.filter(in_test_split(questions["behavior_id"], config.test_fraction, config.seed))
    return _spread(held, config.questions)


def held_out_inputs(config: LmEvalConfig, questions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, products) of the held-out co-buy questions and search-buy pairs."""
    ids = questions["behavior_id"].str.strip_prefix("co_buy:").str.split("|")
    co = questions.select(
        "behavior_id",
        pl.lit("co_buy").alias("kind"),
        pl.lit(None, pl.String).alias("query"),
        ids.list.get(0).alias("product_id"),
        ids.list.get(1).alias("product_id_b"),
    )
    titles = pl.concat(
        [
            co.select("product_id", questions["title"].alias("title")),
            co.select(pl.col("product_id_b").alias("product_id"), questions["title_b"].alias("title")),
        ]
    )
    search = search_buy_pairs()
    search = _spread(
        search.filter(in_test_split(search["behavior_id"], config.test_fraction, config.seed)),
        config.search_pairs,
    )
    sb = search.select(
        "behavior_id",
        pl.lit("search_buy").alias("kind"),
        "query",
        "product_id",
        pl.lit(None, pl.String).alias("product_id_b"),
    )
    products = (  # sorted: the same inputs are the same files, so a rerun resumes the generations
        pl.concat([titles, _read("wands_products.parquet").select("product_id", "title")])
        .unique("product_id", keep="first", maintain_order=True)
        .sort("product_id")
    )
    pairs = PAIRS.conform(pl.concat([co, sb]).lazy()).collect()
    return pairs, PRODUCTS.conform(products.lazy()).collect()


def _generate(config: LmEvalConfig, adapter: str, inputs: Path, name: str) -> tuple[pl.DataFrame, Any]:
    generation = GenerationSettings(
        backend=config.backend,
        adapter=adapter,
        relations=config.relations,
        max_new_tokens=config.max_new_tokens,
        threads=config.threads,
        seed=config.seed,
    )
    generation.validate()
    settings = BackendSettings(generation, OpenAISettings(), VllmSettings())
    report = run(
        GenerateConfig(
            inputs / "pairs.parquet",
            inputs / "products.parquet",
            config.out / f"gen-{name}",
            config.out / "rejects",
            settings,
        )
    )
    candidates = pl.read_parquet(config.out / f"gen-{name}" / "candidates-*.parquet")
    return candidates, (report, generation.exemplar_count())


def _with_context(candidates: pl.DataFrame, pairs: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    titles = products.select("product_id", "title")
    context = (
        pairs.select("behavior_id", "kind", "query", "product_id", "product_id_b")
        .join(titles, on="product_id", how="left")
        .join(
            titles.rename({"product_id": "product_id_b", "title": "title_b"}), on="product_id_b", how="left"
        )
    )
    return candidates.join(context, on="behavior_id", how="left")


def _scores(
    config: LmEvalConfig, name: str, adapter: str, inputs: Path, tools: dict[str, Any]
) -> ModelScores:
    raw, (report, exemplars) = _generate(config, adapter, inputs, name)
    seconds = _shard_seconds(config.out / f"gen-{name}")  # a resumed run's own time is not the model's
    frame = lm_metrics.critic_scores(tools["critic"], _with_context(raw, tools["pairs"], tools["products"]))
    tails = {key: group["tail"].to_list() for (key,), group in frame.group_by("behavior_id")}
    kept = frame["plausibility"] >= KEEP  # what the refine stage keeps
    pairs = tools["pairs"].height
    return ModelScores(
        model=report.model,
        exemplars=exemplars,
        prompts=report.prompts,
        candidates=frame.height,
        seconds=round(seconds, 1),
        pairs_per_second=round(report.pairs_in / max(seconds, 1e-9), 4),
        typical_yield=_mean(kept),
        typical_share=_mean(kept & (frame["typicality"] >= KEEP)),
        copy_rate=lm_metrics.copy_rate(frame),
        copy_rate_search_buy=lm_metrics.copy_rate(frame.filter(pl.col("kind") == "search_buy")),
        distinct_tails_per_pair=round(frame["tail"].str.to_lowercase().n_unique() / max(pairs, 1), 2)
        if frame.height
        else 0.0,
        gold_match=lm_metrics.gold_match(tools["embedder"], tools["questions"], tails),
    )


def _shard_seconds(directory: Path) -> float:
    return sum(json.loads(p.read_text(encoding="utf-8"))["seconds"] for p in directory.glob("stats/*.json"))


def _mean(mask: pl.Series) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None  # type: ignore[arg-type]


def judge_records(data: Path, per_task: int, split: str = "eval") -> dict[str, list[dict[str, Any]]]:
    """Yes/No examples of tasks 2-5 of one split in the run-time phrasing, as many Yes as No."""
    records: dict[str, list[dict[str, Any]]] = {}
    for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["task"] != "generation" and record["template"] == 0:
            records.setdefault(record["task"], []).append(record)
    chosen = {}
    for task in TASKS[1:]:
        rows = records.get(task, [])
        by_answer = [[r for r in rows if r["messages"][-1]["content"] == a] for a in ("Yes", "No")]
        half = min(per_task // 2, *(len(b) for b in by_answer))
        chosen[task] = [r for group in by_answer for r in group[:half]]
    return chosen


def _judge(config: LmEvalConfig, scores: dict[str, ModelScores], adapter: str) -> None:
    from cosmo_kg.generation.cosmo_lm import apply_adapter, resolve_adapter
    from cosmo_kg.generation.local_model import load_local_lm

    records = judge_records(config.data, config.judge_examples)
    calibration = judge_records(config.data, config.judge_examples, split="train")
    tokenizer, model = load_local_lm(None)
    for name in ("base", "tuned"):
        if name == "tuned":
            path = resolve_adapter(adapter, "")
            model = apply_adapter(model, path).eval() if path is not None else model
        accuracy = {
            task: lm_metrics.judge_accuracy(tokenizer, model, rows, calibration.get(task, []))
            for task, rows in records.items()
            if rows
        }
        scores[name].tasks = {task: value["calibrated"] for task, value in accuracy.items()}
        scores[name].tasks_argmax = {task: value["argmax"] for task, value in accuracy.items()}


def evaluate(config: LmEvalConfig) -> LmEvalReport:
    """Compare the base model and the adapter on held-out pairs; write ``out/eval_report.json``.

    Raises:
        InputError: ``config.data`` holds no instruction data. ConfigError: bad adapter/backend.
    """
    started = time.perf_counter()
    questions = held_out_questions(config)
    pairs, products = held_out_inputs(config, questions)
    inputs = config.out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    pairs.write_parquet(inputs / "pairs.parquet")
    products.write_parquet(inputs / "products.parquet")
    embedder = Embedder(load_settings(EmbeddingSettings))
    tools = {
        "pairs": pairs,
        "products": products,
        "questions": questions,
        "embedder": embedder,
        "critic": load_critic(default_critic_dir(), load_settings(EmbeddingSettings)),
    }
    scores = {
        name: _scores(config, name, adapter, inputs, tools)
        for name, adapter in (("base", "none"), ("tuned", config.adapter))
    }
    if config.judge_examples:
        _judge(config, scores, config.adapter)
    naive = {row["behavior_id"]: [row["title"], row["title_b"]] for row in questions.iter_rows(named=True)}
    report = LmEvalReport(
        held_out={"co_buy_pairs": questions.height, "search_buy_pairs": pairs.height - questions.height},
        relations=config.relations,
        backend=config.backend,
        base=scores["base"],
        tuned=scores["tuned"],
        naive_titles_gold_match=lm_metrics.gold_match(embedder, questions, naive),
        seconds=round(time.perf_counter() - started, 1),
    )
    (config.out / "eval_report.json").write_text(
        json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    return report
