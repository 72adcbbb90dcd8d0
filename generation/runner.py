"""``generate``: behaviour pairs → QA prompts → model → parsed candidates, in resumable shards.

Pairs stream from ``pairs.parquet`` in shards of ``shard_size`` rows. A shard is done when its
``candidates-NNNNN.parquet`` exists: it is written under a temporary name and renamed, after its
rejects and statistics. A killed run, run again with the same inputs and settings, skips the
done shards; prompts, exemplar choice and decoding are deterministic per shard, so the result
equals an uninterrupted run. ``manifest.json`` pins the run key so that a changed input or
setting is never mixed into an old output directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from cosmo_kg.errors import BackendError, ConfigError, InputError
from cosmo_kg.files import file_digest, write_parquet_atomic, write_text_atomic
from cosmo_kg.generation.backend import BackendSettings, LLMBackend, create_backend, model_label
from cosmo_kg.generation.parser import TailLimits, parse_tails
from cosmo_kg.generation.prompts import PairContext, PromptLibrary, RenderedPrompt, load_library
from cosmo_kg.schemas import CANDIDATES, PAIRS, PRODUCTS, RowRule, reason_counts, split_rows
from cosmo_kg.text import text_key
from cosmo_kg.vocabulary import BehaviorKind, relations_for

log = logging.getLogger(__name__)
# Extra column beside the CANDIDATES contract: which worked examples the prompt showed.
EXEMPLARS_COLUMN = "exemplar_ids"
CANDIDATE_COLUMNS = {**CANDIDATES.columns, EXEMPLARS_COLUMN: pl.String()}
# Settings that change no output (speed only) stay out of the run key.
SPEED_ONLY = ("batch_size", "device", "threads")


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate: pairs (+ products for titles) into ``out``; rejects under ``rejects_dir``.

    ``replace_other_run``: ``out`` is a scratch directory (the demo's): candidates of another run
    there are deleted instead of refused.
    """

    pairs: Path
    products: Path
    out: Path
    rejects_dir: Path
    backend: BackendSettings
    replace_other_run: bool = False


@dataclass(frozen=True)
class GenerateProgress:
    pairs_done: int
    pairs_total: int
    tokens: int
    seconds: float


@dataclass
class ShardStats:
    pairs_in: int = 0
    pairs_rejected: dict[str, int] = field(default_factory=dict)
    prompts: int = 0
    candidates: int = 0
    parse_failures: int = 0
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class GenerateReport:
    run_key: str
    backend: str
    model: str
    prompt_format: str
    prompt_versions: dict[str, str]
    shards_total: int
    shards_resumed: int
    pairs_in: int
    pairs_rejected: dict[str, int]
    prompts: int
    candidates: int
    parse_failures: int
    tokens: int
    seconds: float
    pairs_per_second: float
    tokens_per_second: float
    out_dir: str
    rejects_dir: str


def run_key(config: GenerateConfig, library: PromptLibrary, model: str) -> str:
    """Hash of everything that decides the candidates: inputs, model, prompts, output settings."""
    settings = {k: v for k, v in asdict(config.backend.generation).items() if k not in SPEED_ONLY}
    payload = {
        "pairs": file_digest(config.pairs),
        "products": file_digest(config.products),
        "model": model,
        "settings": settings,
        "prompts": library.versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _check_inputs(config: GenerateConfig) -> int:
    for path, schema in ((config.pairs, PAIRS), (config.products, PRODUCTS)):
        if not path.is_file():
            raise InputError(f"{path}: no such file", hint=f"pass a {schema.name}.parquet file")
        schema.check_columns(pl.scan_parquet(path), path)
    return pq.ParquetFile(config.pairs).metadata.num_rows


def _claim_out_dir(out: Path, key: str, replace_other_run: bool) -> None:
    manifest = out / "manifest.json"
    if manifest.exists():
        found = json.loads(manifest.read_text(encoding="utf-8")).get("run_key")
        if found == key:
            return
        if not replace_other_run:
            raise ConfigError(
                f"{out} holds candidates of another run ({found}), not {key}",
                hint="use a new --out directory, or the same inputs and settings to resume",
            )
        shutil.rmtree(out)
    write_text_atomic(json.dumps({"run_key": key}), manifest)


def shard_path(out: Path, index: int) -> Path:
    return out / f"candidates-{index:05d}.parquet"


def _stats_path(out: Path, index: int) -> Path:
    return out / "stats" / f"candidates-{index:05d}.json"


def _pair_rules() -> list[RowRule]:
    kind, query = pl.col("kind"), pl.col("query").str.strip_chars()
    return [
        RowRule("missing behavior_id", pl.col("behavior_id").is_null()),
        RowRule("unknown kind", ~kind.is_in([k.value for k in BehaviorKind])),
        RowRule("unknown product", pl.col("title").is_null()),
        RowRule(
            "search-buy pair without query",
            (kind == BehaviorKind.SEARCH_BUY) & (query.is_null() | (query == "")),
        ),
        RowRule(
            "co-buy pair with unknown product_id_b",
            (kind == BehaviorKind.CO_BUY) & pl.col("title_b").is_null(),
        ),
    ]


def _with_titles(shard: pl.DataFrame, products: Path) -> pl.DataFrame:
    ids = pl.concat([shard["product_id"], shard["product_id_b"]]).drop_nulls().unique()
    titles = (
        pl.scan_parquet(products)
        .select("product_id", "title")
        .filter(pl.col("product_id").is_in(ids.implode()))
        .unique("product_id")
        .collect()
    )
    return shard.join(titles, on="product_id", how="left").join(
        titles.rename({"product_id": "product_id_b", "title": "title_b"}), on="product_id_b", how="left"
    )


def _contexts(good: pl.DataFrame) -> Iterator[PairContext]:
    for row in good.iter_rows(named=True):
        ids = frozenset(i for i in (row["product_id"], row["product_id_b"]) if i)
        kind = BehaviorKind(row["kind"])
        yield PairContext(
            behavior_id=row["behavior_id"],
            kind=kind,
            title=row["title"],
            query=row["query"] if kind == BehaviorKind.SEARCH_BUY else None,
            title_b=row["title_b"] if kind == BehaviorKind.CO_BUY else None,
            product_ids=ids,
        )


class _ShardRun:
    """Generation of one shard: prompts in batches, parsing, candidate rows."""

    def __init__(self, library: PromptLibrary, backend: LLMBackend, settings: BackendSettings) -> None:
        self.library, self.backend, self.s = library, backend, settings.generation
        self.limits = TailLimits(
            self.s.min_tail_chars, self.s.max_tail_chars, self.s.max_tail_words, self.s.max_tails
        )
        chosen = set(self.s.relation_names())
        self.relations = {
            kind: [r.name for r in relations_for(kind) if not chosen or r.name in chosen]
            for kind in BehaviorKind
        }

    def prompts(self, pairs: list[PairContext]) -> list[RenderedPrompt]:
        exemplars = self.s.exemplar_count()
        rendered = [
            self.library.get(p.kind, rel).render(
                p, exemplars=exemplars, seed=self.s.seed, max_title_words=self.s.max_title_words
            )
            for p in pairs
            for rel in self.relations[p.kind]
        ]
        # Similar lengths in one batch waste less padding; the order is a pure function of the shard.
        return sorted(rendered, key=lambda p: (len(p.text), p.pair.behavior_id, p.relation))

    def candidates(
        self, prompt: RenderedPrompt, texts: tuple[str, ...], truncated: tuple[bool, ...], stats: ShardStats
    ) -> list[dict[str, Any]]:
        tails: list[str] = []
        for text, cut in zip(texts, truncated, strict=True):
            seen = prompt.echo_keys | {text_key(t) for t in tails}
            for tail in parse_tails(
                text, opener=prompt.opener, echo_keys=seen, truncated=cut, limits=self.limits
            ):
                tails.append(tail)
        if not tails:
            stats.parse_failures += 1
            log.debug("no candidates for %s %s: %r", prompt.pair.behavior_id, prompt.relation, texts)
            if self.s.on_error == "raise":
                raise BackendError(
                    f"malformed model output for {prompt.pair.behavior_id} / "
                    f"{prompt.relation}: {texts[0][:200]!r}",
                    hint="use --generation-on-error skip to count such prompts and go on",
                )
        return [
            _candidate_row(prompt, tail, rank, self.backend.model_name)
            for rank, tail in enumerate(tails[: self.limits.max_tails], 1)
        ]

    def generate(
        self, pairs: list[PairContext], stats: ShardStats, on_batch: Callable[[int], None]
    ) -> list[dict[str, Any]]:
        prompts, rows = self.prompts(pairs), []
        stats.prompts += len(prompts)
        for start in range(0, len(prompts), self.s.batch_size):
            batch = prompts[start : start + self.s.batch_size]
            completions = self.backend.generate(batch)
            for prompt, completion in zip(batch, completions, strict=True):
                stats.tokens += completion.tokens
                rows += self.candidates(prompt, completion.texts, completion.truncated, stats)
            on_batch(sum(c.tokens for c in completions))
        return rows


def _candidate_row(prompt: RenderedPrompt, tail: str, rank: int, model: str) -> dict[str, Any]:
    key = f"{prompt.pair.behavior_id}|{prompt.relation}|{tail.lower()}"
    return {
        "candidate_id": hashlib.sha256(key.encode()).hexdigest()[:20],
        "behavior_id": prompt.pair.behavior_id,
        "relation": prompt.relation,
        "tail": tail,
        "rank": rank,
        "model": model,
        "prompt_version": prompt.version,
        EXEMPLARS_COLUMN: ";".join(prompt.exemplar_ids),
    }


def _order_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=CANDIDATE_COLUMNS) if rows else pl.DataFrame(schema=CANDIDATE_COLUMNS)
    return frame.sort(["behavior_id", "relation", "rank"])


def _load_stats(out: Path, shards: int) -> list[ShardStats]:
    found = []
    for index in range(shards):
        path = _stats_path(out, index)
        if shard_path(out, index).exists() and path.exists():
            found.append(ShardStats(**json.loads(path.read_text(encoding="utf-8"))))
    return found


def run(
    config: GenerateConfig,
    *,
    progress: Callable[[GenerateProgress], None] | None = None,
    backend: LLMBackend | None = None,
) -> GenerateReport:
    """Generate candidates for every pair; resume a killed run in the same ``out`` directory.

    Args:
        config: inputs, output directory and backend settings.
        progress: called after every model batch with pairs done / total, tokens and time.
        backend: an already opened backend (benchmarks reuse one); default: created from settings.

    Returns:
        The run report (counts summed over all shards, including ones finished by earlier runs).

    Raises:
        InputError: unreadable inputs. ConfigError: ``out`` holds another run. BackendError: the
        model failed, or produced malformed output with ``on_error=raise``.
    """
    settings = config.backend.generation
    total = _check_inputs(config)
    library = load_library()
    shard_count = -(-total // settings.shard_size)
    model = model_label(settings)
    key = run_key(config, library, model)
    _claim_out_dir(config.out, key, config.replace_other_run)
    done = {i for i in range(shard_count) if shard_path(config.out, i).exists()}
    started, own_backend = time.perf_counter(), backend is None
    if backend is None and len(done) < shard_count:
        backend = create_backend(config.backend)
    rejects = config.rejects_dir / f"generate-{key}"
    skipped = sum(min(settings.shard_size, total - i * settings.shard_size) for i in done)
    meter = _Meter(progress, total, skipped)
    try:
        if backend is not None:
            shard = _ShardRun(library, backend, config.backend)
            batches = pq.ParquetFile(config.pairs).iter_batches(batch_size=settings.shard_size)
            for index, batch in enumerate(batches):
                if index not in done:
                    stats = _run_shard(index, pl.DataFrame(batch), config, shard, rejects, meter.batch)
                    meter.shard_done(stats)
    finally:
        if own_backend and backend is not None:
            backend.close()
    seconds = time.perf_counter() - started
    return _summarise(config, key, model, library, shard_count, len(done), seconds, meter)


class _Meter:
    """Pairs and tokens of this invocation, reported to the progress callback."""

    def __init__(self, progress: Callable[[GenerateProgress], None] | None, total: int, skipped: int) -> None:
        self.progress, self.total, self.skipped = progress, total, skipped
        self.pairs = self.tokens = self.pending_tokens = 0
        self.started = time.perf_counter()

    def batch(self, tokens: int) -> None:
        self.pending_tokens += tokens
        self._emit()

    def shard_done(self, stats: ShardStats) -> None:
        self.pairs += stats.pairs_in
        self.tokens += stats.tokens
        self.pending_tokens = 0
        self._emit()

    def elapsed(self) -> float:
        """Seconds since generation began (model loading excluded), never zero."""
        return max(time.perf_counter() - self.started, 1e-9)

    def _emit(self) -> None:
        if self.progress is not None:
            self.progress(
                GenerateProgress(
                    self.skipped + self.pairs, self.total, self.tokens + self.pending_tokens, self.elapsed()
                )
            )


def _run_shard(
    index: int,
    raw: pl.DataFrame,
    config: GenerateConfig,
    shard: _ShardRun,
    rejects: Path,
    on_batch: Callable[[int], None],
) -> ShardStats:
    started = time.perf_counter()
    frame = _with_titles(PAIRS.conform(raw.lazy()).collect(), config.products)
    good, rejected = split_rows(frame, _pair_rules())
    stats = ShardStats(pairs_in=frame.height, pairs_rejected=reason_counts(rejected))
    rows = shard.generate(list(_contexts(good)), stats, on_batch)
    if rejected.height:
        write_parquet_atomic(rejected, rejects / f"pairs-{index:05d}.parquet")
    stats.candidates = len(rows)
    stats.seconds = time.perf_counter() - started
    write_text_atomic(json.dumps(asdict(stats)), _stats_path(config.out, index))
    write_parquet_atomic(_order_rows(rows), shard_path(config.out, index))  # the commit point of the shard
    return stats


def _summarise(
    config: GenerateConfig,
    key: str,
    model: str,
    library: PromptLibrary,
    shards: int,
    resumed: int,
    seconds: float,
    meter: _Meter,
) -> GenerateReport:
    all_stats = _load_stats(config.out, shards)
    rejected: dict[str, int] = {}
    for stats in all_stats:
        for reason, count in stats.pairs_rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
    settings = config.backend.generation
    return GenerateReport(
        run_key=key,
        backend=settings.backend,
        model=model,
        prompt_format=settings.prompt_format,
        prompt_versions=library.versions(),
        shards_total=shards,
        shards_resumed=resumed,
        pairs_in=sum(s.pairs_in for s in all_stats),
        pairs_rejected=rejected,
        prompts=sum(s.prompts for s in all_stats),
        candidates=sum(s.candidates for s in all_stats),
        parse_failures=sum(s.parse_failures for s in all_stats),
        tokens=sum(s.tokens for s in all_stats),
        seconds=seconds,
        pairs_per_second=meter.pairs / meter.elapsed(),
        tokens_per_second=meter.tokens / meter.elapsed(),
        out_dir=str(config.out),
        rejects_dir=str(config.rejects_dir / f"generate-{key}"),
    )
