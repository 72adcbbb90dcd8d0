"""``generate``: behaviour pairs → QA prompts → model → parsed candidates, in resumable shards.

Pairs stream from ``pairs.parquet`` in shards of ``shard_size`` rows. A shard is done when its
``candidates-NNNNN.parquet`` exists: it is written under a temporary name and renamed, after its
rejects and statistics. A killed run, run again with the same inputs and settings, skips the
done shards; prompts, exemplar choice and decoding are deterministic per shard, so the result
equals an uninterrupted run. ``manifest.json`` pins the run key so that a changed input or
setting is never mixed into an old output directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from cosmo_kg.distributed import LocalExecutor, RaySettings, ShardExecutor, create_executor
from cosmo_kg.errors import BackendError, ConfigError, InputError
from cosmo_kg.files import file_digest, write_text_atomic
from cosmo_kg.generation.backend import (
    BackendSettings,
    LLMBackend,
    create_backend,
    model_label,
    prompts_per_call,
)
from cosmo_kg.generation.pair_shards import (
    PreparedShard,
    ShardOutput,
    ShardStats,
    commit_shard,
    load_stats,
    prepare_shard,
    shard_path,
)
from cosmo_kg.generation.parser import TailLimits, parse_tails
from cosmo_kg.generation.prompts import PairContext, PromptLibrary, RenderedPrompt, load_library
from cosmo_kg.schemas import CANDIDATES, PAIRS, PRODUCTS
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
    ray: RaySettings = field(default_factory=RaySettings)


@dataclass(frozen=True)
class GenerateProgress:
    pairs_done: int
    pairs_total: int
    tokens: int
    seconds: float


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
    executor: str = "local"
    workers: int = 1
    shards_retried: int = 0


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
        step = prompts_per_call(self.backend, self.s.batch_size, len(prompts))
        for start in range(0, len(prompts), step):
            batch = prompts[start : start + step]
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


def run(
    config: GenerateConfig,
    *,
    progress: Callable[[GenerateProgress], None] | None = None,
    backend: LLMBackend | None = None,
) -> GenerateReport:
    """Generate candidates for every pair; resume a killed run in the same ``out`` directory.

    Shards run in this process, or on the Ray cluster ``config.ray.address`` names (one model
    load per actor; the files are written here either way, see ``cosmo_kg.distributed``).

    Args:
        config: inputs, output directory, backend and Ray settings.
        progress: called after every model batch (every shard with Ray) with pairs done / total,
            tokens and time.
        backend: an already opened backend (benchmarks reuse one); runs in this process.

    Returns:
        The run report (counts summed over all shards, including ones finished by earlier runs).

    Raises:
        InputError: unreadable inputs. ConfigError: ``out`` holds another run, or Ray is missing /
        unreachable. BackendError: the model failed, or produced malformed output with
        ``on_error=raise``.
    """
    settings = config.backend.generation
    total = _check_inputs(config)
    library = load_library()
    shard_count = -(-total // settings.shard_size)
    model = model_label(settings)
    key = run_key(config, library, model)
    executor = LocalExecutor() if backend is not None else create_executor(config.ray)
    _claim_out_dir(config.out, key, config.replace_other_run)
    done = {i for i in range(shard_count) if shard_path(config.out, i).exists()}
    started = time.perf_counter()
    factory = _worker_factory(config, library, executor, backend, pending=shard_count - len(done))
    rejects = config.rejects_dir / f"generate-{key}"
    skipped = sum(min(settings.shard_size, total - i * settings.shard_size) for i in done)
    meter = _Meter(progress, total, skipped)
    prepared: dict[int, PreparedShard] = {}

    def commit(index: int, output: ShardOutput) -> None:
        meter.shard_done(commit_shard(index, prepared.pop(index), output, config.out, rejects))

    shards = _pending_shards(config, done, prepared)
    executor.run(factory, shards, commit, pending=shard_count - len(done), tick=meter.batch)
    seconds = time.perf_counter() - started
    return _summarise(config, key, model, library, shard_count, len(done), seconds, meter, executor)


class GenerationWorker:
    """One model load (in this process or in a Ray actor) that generates whole shards."""

    def __init__(
        self, settings: BackendSettings, library: PromptLibrary, backend: LLMBackend | None = None
    ) -> None:
        self.owns_backend = backend is None
        self.backend = backend if backend is not None else create_backend(settings)
        self.shard = _ShardRun(library, self.backend, settings)

    def run(self, pairs: list[PairContext], tick: Callable[[int], None]) -> ShardOutput:
        started, stats = time.perf_counter(), ShardStats()
        rows = self.shard.generate(pairs, stats, tick)
        seconds = time.perf_counter() - started
        return ShardOutput(_order_rows(rows), stats.prompts, stats.tokens, stats.parse_failures, seconds)

    def close(self) -> None:
        if self.owns_backend:
            self.backend.close()


def _worker_factory(
    config: GenerateConfig,
    library: PromptLibrary,
    executor: ShardExecutor,
    backend: LLMBackend | None,
    pending: int,
) -> Callable[[], GenerationWorker]:
    """In this process the model is loaded now (so the rate excludes it); on Ray, in each actor."""
    cpus = executor.cpus_per_worker()
    if cpus is not None:
        threads = config.backend.generation.threads or cpus
        generation = dataclasses.replace(config.backend.generation, threads=threads)
        return partial(GenerationWorker, dataclasses.replace(config.backend, generation=generation), library)
    worker = GenerationWorker(config.backend, library, backend) if pending else None
    return lambda: _loaded(worker)


def _loaded(worker: GenerationWorker | None) -> GenerationWorker:
    if worker is None:
        raise BackendError("no model was loaded for a run without pending shards")
    return worker


def _pending_shards(
    config: GenerateConfig, done: set[int], prepared: dict[int, PreparedShard]
) -> Iterator[tuple[int, list[PairContext]]]:
    """The shards not yet written, prepared (titles, rejects) on the way; only the contexts travel."""
    batches = pq.ParquetFile(config.pairs).iter_batches(batch_size=config.backend.generation.shard_size)
    for index, batch in enumerate(batches):
        if index not in done:
            prepared[index] = prepare_shard(pl.DataFrame(batch), config.products)
            yield index, prepared[index].contexts


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


def _summarise(
    config: GenerateConfig,
    key: str,
    model: str,
    library: PromptLibrary,
    shards: int,
    resumed: int,
    seconds: float,
    meter: _Meter,
    executor: ShardExecutor,
) -> GenerateReport:
    all_stats = load_stats(config.out, shards)
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
        executor=executor.name,
        workers=executor.workers,
        shards_retried=executor.retried,
    )
