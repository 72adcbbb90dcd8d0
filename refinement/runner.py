"""``cosmo-kg refine``: candidates -> rule filters -> similarity filter -> critic -> knowledge.parquet.

Resumable: critic scores, the slow part, are written per chunk under ``<output>.parts/<run_id>/``;
a killed run, started again with the same inputs and settings, scores only the missing chunks, and
the output file appears (atomically) only when every chunk is done.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from cosmo_kg.distributed import LocalExecutor, RaySettings, ShardExecutor, WorkerFactory, create_executor
from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.files import write_parquet_atomic, writing
from cosmo_kg.refinement.clauses import statement_expr
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.critic_worker import CriticFiles, CriticWorker
from cosmo_kg.refinement.filters import PERPLEXITY, RULE_REASONS, FilterSettings, RefineSettings, rule_reasons
from cosmo_kg.refinement.similarity import context_similarity
from cosmo_kg.schemas import CANDIDATES, KNOWLEDGE, PAIRS, PRODUCTS, REASON_COLUMN
from cosmo_kg.settings import load_settings
from cosmo_kg.vocabulary import RELATIONS

EXAMPLES_PER_STEP = 3
Progress = Callable[[int, int], None]


def default_critic_dir() -> Path:
    """The shipped critic: package data of ``cosmo_kg.samples``."""
    from cosmo_kg import samples

    return Path(samples.__file__).resolve().parent / "critic" / "default"


@dataclass(frozen=True)
class RefineConfig:
    """Inputs and policy of one refine run; ``critic_dir`` None = the shipped default critic."""

    candidates: Path
    pairs: Path
    products: Path
    output: Path
    rejects_dir: Path
    critic_dir: Path | None = None
    settings: RefineSettings = field(default_factory=lambda: load_settings(RefineSettings))
    filters: FilterSettings = field(default_factory=FilterSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    ray: RaySettings = field(default_factory=RaySettings)


@dataclass
class RefineReport:
    """Counts through each step, yield and examples kept / dropped per filter."""

    run_id: str
    output: str
    candidates_in: int
    steps: dict[str, int]
    rejected: dict[str, int]
    knowledge_out: int
    typical_out: int
    typical_yield: float
    kept_examples: list[str]
    dropped_examples: dict[str, list[str]]
    rejects_file: str
    chunks_scored: int
    chunks_reused: int
    seconds: float
    executor: str = "local"
    workers: int = 1
    chunks_retried: int = 0


def stage_files(path: Path) -> list[Path]:
    """A stage file, or every ``*.parquet`` shard of a directory (e.g. `cosmo-kg generate --out`)."""
    if path.is_dir():
        shards = sorted(path.glob("*.parquet"))
        if shards:
            return shards
        raise InputError(f"{path} holds no .parquet files", hint="give the generate --out directory")
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    return [path]


def _read(path: Path, schema: Any) -> pl.LazyFrame:
    try:
        frame = pl.scan_parquet(stage_files(path))
    except InputError as exc:
        raise InputError(f"{schema.name} file: {exc.message}", hint=exc.hint) from None
    schema.check_columns(frame, path)
    return schema.conform(frame)


class ContextFiles(Protocol):
    """The three inputs a candidate's context is read from (a refine, score or sample config)."""

    @property
    def candidates(self) -> Path: ...

    @property
    def pairs(self) -> Path: ...

    @property
    def products(self) -> Path: ...


def load_context(config: ContextFiles) -> pl.DataFrame:
    """Candidates joined with their pair (kind, query, products) and the product titles."""
    products = _read(config.products, PRODUCTS).select("product_id", "title", "product_type")
    pairs = (
        _read(config.pairs, PAIRS)
        .drop("product_type")
        .join(products, on="product_id", how="left", maintain_order="left")
        .join(
            products.select(
                "product_id", pl.col("title").alias("title_b"), pl.col("product_type").alias("product_type_b")
            ),
            left_on="product_id_b",
            right_on="product_id",
            how="left",
            maintain_order="left",
        )
    )
    candidates = _read(config.candidates, CANDIDATES)
    return candidates.join(pairs, on="behavior_id", how="left", maintain_order="left").collect()


def run_id_of(config: RefineConfig) -> str:
    digest = hashlib.blake2b(digest_size=10)
    for path in (
        p for given in (config.candidates, config.pairs, config.products) for p in stage_files(given)
    ):
        stat = path.stat()
        digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    critic = config.critic_dir or default_critic_dir()
    digest.update(json.dumps([str(critic), config.settings.chunk_rows, asdict(config.filters)]).encode())
    return digest.hexdigest()


def _perplexity_reasons(
    frame: pl.DataFrame, settings: FilterSettings, embedding: EmbeddingSettings
) -> pl.Series:
    from cosmo_kg.refinement.perplexity import PerplexityScorer

    passing = frame[REASON_COLUMN].is_null()
    texts = frame.with_columns(statement_expr())["statement"].fill_null("").to_list()
    scores = PerplexityScorer(device=embedding.device).perplexity(
        [t for t, ok in zip(texts, passing, strict=True) if ok]
    )
    flags = iter(scores > settings.max_perplexity)
    return pl.Series(
        [
            (PERPLEXITY if next(flags) else None) if ok else reason
            for ok, reason in zip(passing, frame[REASON_COLUMN], strict=True)
        ],
        dtype=pl.String(),
    )


def apply_filters(frame: pl.DataFrame, config: RefineConfig, embedder: Embedder) -> pl.DataFrame:
    """Rule filters, then (optionally) perplexity, then the similarity filter, as a ``reason`` column."""
    tagged = rule_reasons(frame, config.filters)
    if config.filters.max_perplexity > 0:
        tagged = tagged.with_columns(
            _perplexity_reasons(tagged, config.filters, config.embedding).alias(REASON_COLUMN)
        )
    if config.filters.max_similarity < 1.0:
        passing = tagged.filter(pl.col(REASON_COLUMN).is_null())
        similar = context_similarity(embedder, passing) >= config.filters.max_similarity
        paraphrase = passing.select("candidate_id").with_columns(paraphrase=pl.Series(similar))
        tagged = (
            tagged.join(paraphrase, on="candidate_id", how="left", maintain_order="left")
            .with_columns(
                pl.when(pl.col("paraphrase").fill_null(False))
                .then(pl.lit("paraphrase"))
                .otherwise(pl.col(REASON_COLUMN))
                .alias(REASON_COLUMN)
            )
            .drop("paraphrase")
        )
    return tagged


def score_chunks(
    rows: pl.DataFrame,
    factory: WorkerFactory[pl.DataFrame, pl.DataFrame],
    parts: Path,
    chunk_rows: int,
    progress: Progress | None,
    executor: ShardExecutor | None = None,
) -> tuple[pl.DataFrame, int, int]:
    """Critic scores per chunk, reusing the chunks a previous (killed) run finished.

    The chunks run on ``executor`` (default: this process); each chunk's scores are written
    here, as ``part-NNNNN.parquet``, when they come back.
    """
    with writing(parts):
        parts.mkdir(parents=True, exist_ok=True)
    total = max((len(rows) + chunk_rows - 1) // chunk_rows, 1)
    paths = [parts / f"part-{index:05d}.parquet" for index in range(total)]
    todo = [index for index, path in enumerate(paths) if not path.exists()]
    finished = [total - len(todo)]

    def commit(index: int, scores: pl.DataFrame) -> None:
        write_parquet_atomic(scores, paths[index])
        finished[0] += 1
        if progress:
            progress(finished[0], total)

    if progress and finished[0]:
        progress(finished[0], total)
    chunks = ((index, rows.slice(index * chunk_rows, chunk_rows)) for index in todo)
    (executor or LocalExecutor()).run(factory, chunks, commit, pending=len(todo))
    scored = [pl.read_parquet(path) for path in paths]
    return pl.concat(scored), len(todo), total - len(todo)


def critic_factory(
    config: RefineConfig, executor: ShardExecutor
) -> WorkerFactory[pl.DataFrame, pl.DataFrame]:
    """The critic loaded where the chunks run: here from its directory, on Ray from its bytes."""
    directory = config.critic_dir or default_critic_dir()
    if executor.name == "local":
        return lambda: CriticWorker(load_critic(directory, config.embedding))
    return partial(CriticWorker.from_files, CriticFiles.read(directory), config.embedding)


def to_knowledge(scored: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """One knowledge row per (behaviour, relation, tail key); ``support`` = candidates merged."""
    tail_types = {r.name: r.tail_type for r in RELATIONS.values()}
    merged = (
        scored.with_columns(tail_key=pl.col("tail").str.to_lowercase().str.strip_chars())
        .group_by("behavior_id", "relation", "tail_key", maintain_order=True)
        .agg(
            pl.col("kind", "query", "product_id", "product_id_b", "tail", "model").first(),
            pl.col("plausibility", "typicality").max(),
            pl.len().cast(pl.Int64).alias("support"),
        )
    )
    frame = merged.with_columns(
        tail_type=pl.col("relation").replace_strict(tail_types, default=None, return_dtype=pl.String()),
        run_id=pl.lit(run_id),
    )
    return KNOWLEDGE.conform(frame.lazy()).collect()


def _examples(frame: pl.DataFrame, reason: str | None) -> list[str]:
    chosen = pl.col(REASON_COLUMN).is_null() if reason is None else pl.col(REASON_COLUMN) == reason
    rows = frame.filter(chosen)
    return [f"{r['relation']}: {r['tail']}" for r in rows.head(EXAMPLES_PER_STEP).iter_rows(named=True)]


def run(config: RefineConfig, progress: Progress | None = None) -> RefineReport:
    """Refine candidates into knowledge; see the module docstring for resumability.

    Raises:
        InputError: an input file is missing or not the file it claims to be.
    """
    started = time.perf_counter()
    run_id = run_id_of(config)
    context = load_context(config)
    embedder = Embedder(config.embedding)
    tagged = apply_filters(context, config, embedder)
    passing = tagged.filter(pl.col(REASON_COLUMN).is_null())
    executor = create_executor(config.ray)
    parts = config.output.with_name(config.output.name + ".parts") / run_id
    factory = critic_factory(config, executor)
    scores, fresh, reused = score_chunks(
        passing, factory, parts, config.settings.chunk_rows, progress, executor
    )
    scored = passing.join(scores, on="candidate_id", how="left", maintain_order="left")
    low = pl.col("plausibility") <= config.settings.min_plausibility
    tagged = tagged.join(
        scored.select("candidate_id", "plausibility", "typicality"),
        on="candidate_id",
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col(REASON_COLUMN).is_null() & low)
        .then(pl.lit("low_plausibility"))
        .otherwise(pl.col(REASON_COLUMN))
        .alias(REASON_COLUMN)
    )
    kept = scored.filter(~low)
    knowledge = to_knowledge(kept, run_id)
    rejects = tagged.filter(pl.col(REASON_COLUMN).is_not_null())
    rejects_file = config.rejects_dir / f"refine-{run_id}.rejects.parquet"
    write_parquet_atomic(rejects, rejects_file)
    write_parquet_atomic(knowledge, config.output)
    shutil.rmtree(parts, ignore_errors=True)
    reasons = rejects[REASON_COLUMN].value_counts(sort=True)
    typical = int((knowledge["typicality"] > 0.5).sum())
    return RefineReport(
        run_id=run_id,
        output=str(config.output),
        candidates_in=len(context),
        steps={
            "candidates": len(context),
            "after_rules": rule_survivors(tagged),
            "after_similarity": len(passing),
            "after_critic": len(kept),
        },
        rejected=dict(zip(reasons[REASON_COLUMN].to_list(), reasons["count"].to_list(), strict=True)),
        knowledge_out=len(knowledge),
        typical_out=typical,
        typical_yield=typical / len(context) if len(context) else 0.0,
        kept_examples=_examples(tagged, None),
        dropped_examples={reason: _examples(tagged, reason) for reason in reasons[REASON_COLUMN].to_list()},
        rejects_file=str(rejects_file),
        chunks_scored=fresh,
        chunks_reused=reused,
        seconds=time.perf_counter() - started,
        executor=executor.name,
        workers=executor.workers,
        chunks_retried=executor.retried,
    )


def rule_survivors(tagged: pl.DataFrame) -> int:
    """Rows that passed every rule filter (they may still fail similarity or the critic)."""
    return int((~tagged[REASON_COLUMN].is_in(list(RULE_REASONS)).fill_null(False)).sum())
