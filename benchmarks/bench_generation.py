"""Benchmark: knowledge generation with the real SmolLM2-135M-Instruct, batched vs the naive way.

Runs the generate stage on the same real pairs (IntentionQA co-buy + WANDS search-buy samples)
and the same greedy settings. Suite ``cosmo-lm`` (default): the generate default before COSMO-LM
(batched transformers, base model, 3 worked examples) vs the tuned model with short prompts on
both CPU backends (llama.cpp in process is the new default), prompt and generated tokens/s apart;
writes benchmarks/results/generation_cosmo_lm.json. Suite ``backends``:
1. ``transformers`` unbatched (one prompt per model call: the naive way) vs batched;
2. ``openai`` against a local llama.cpp server (llama_cpp.server, same SmolLM2 GGUF) with one
   request in flight vs four (needs scripts/install_llama_cpp.sh; skipped with a note if absent);
3. ``vllm`` vs batched ``transformers`` when a CUDA GPU and the vllm package are present.
Writes benchmarks/results/generation.json (generation-threadsN.json with --threads N) and prints
a short table.

    python benchmarks/bench_generation.py                    # today's default vs COSMO-LM, 12 pairs x 2
    python benchmarks/bench_generation.py --suite backends   # batching, openai, vllm
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cosmo_kg.errors import CosmoKGError
from cosmo_kg.generation.backend import BackendSettings, LLMBackend, create_backend
from cosmo_kg.generation.llama_server import start_llama_server
from cosmo_kg.generation.runner import GenerateConfig, GenerateReport, run
from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.samples.pairs import sample_pairs, write_inputs

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    name: str
    backend: str
    batch_size: int = 1
    concurrency: int = 1
    adapter: str = "none"
    exemplars: int = 2


def _settings(args: argparse.Namespace, case: Case, base_url: str = "") -> BackendSettings:
    generation = GenerationSettings(
        backend=case.backend,
        model="smollm2" if case.backend == "openai" else "",
        relations=args.relation,
        exemplars=case.exemplars,
        adapter=case.adapter,
        max_new_tokens=args.max_new_tokens,
        batch_size=case.batch_size,
        shard_size=10_000,
        threads=args.threads,
        device="cuda" if args.gpu else "cpu",
    )
    return BackendSettings(
        generation,
        OpenAISettings(base_url=base_url, concurrency=case.concurrency),
        VllmSettings(gpu_memory_utilization=0.5),
    )


def _measure(
    case: Case, settings: BackendSettings, inputs: Any, work: Path, backend: LLMBackend | None = None
) -> dict[str, Any]:
    config = GenerateConfig(inputs.pairs, inputs.products, work / case.name, work / "rejects", settings)
    report: GenerateReport = run(config, backend=backend)
    print(
        f"  {case.name}: {report.pairs_per_second:.3f} pairs/s, {report.tokens_per_second:.1f} tokens/s",
        flush=True,
    )
    return {
        "case": case.name,
        "backend": case.backend,
        "batch_size": case.batch_size,
        "concurrency": case.concurrency,
        "prompts": report.prompts,
        "tokens": report.tokens,
        "candidates": report.candidates,
        "parse_failures": report.parse_failures,
        "seconds": round(report.seconds, 2),
        "pairs_per_second": round(report.pairs_per_second, 4),
        "tokens_per_second": round(report.tokens_per_second, 2),
    }


def bench_transformers(args: argparse.Namespace, inputs: Any, work: Path) -> list[dict[str, Any]]:
    unbatched, batched = (
        Case("transformers-unbatched", "transformers"),
        Case(f"transformers-batch{args.batch_size}", "transformers", batch_size=args.batch_size),
    )
    backend = create_backend(_settings(args, unbatched))  # one loaded model for both runs
    try:
        return [_measure(case, _settings(args, case), inputs, work, backend) for case in (unbatched, batched)]
    finally:
        backend.close()


def bench_cosmo_lm(args: argparse.Namespace, inputs: Any, work: Path) -> list[dict[str, Any]]:
    """Today's default (batched transformers, base model, 3 worked examples) vs COSMO-LM (short
    prompts) through both CPU backends, on the same pairs and relations."""
    from bench_generation_tokens import prompt_tokens

    cases = (
        Case("before: transformers base 3ex", "transformers", batch_size=args.batch_size, exemplars=3),
        Case("llama_cpp base 3ex", "llama_cpp", exemplars=3),
        Case(
            "transformers tuned", "transformers", batch_size=args.batch_size, adapter="default", exemplars=0
        ),
        Case("llama_cpp tuned (default)", "llama_cpp", adapter="default", exemplars=0),
    )
    rows = []
    for case in cases:
        settings = _settings(args, case)
        row = _measure(case, settings, inputs, work)
        row["prompt_tokens"] = prompt_tokens(settings.generation, inputs)
        row["prompt_tokens_per_second"] = round(row["prompt_tokens"] / max(row["seconds"], 1e-9), 1)
        row |= {"adapter": case.adapter, "exemplars": case.exemplars}
        rows.append(row)
    return rows


def bench_openai(args: argparse.Namespace, inputs: Any, work: Path) -> list[dict[str, Any]] | str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "skipped: llama-cpp-python not installed (scripts/install_llama_cpp.sh)"
    server = start_llama_server(work / "llama-server.log", threads=args.threads or 2)
    try:
        return [
            _measure(case, _settings(args, case, server.base_url), inputs, work)
            for case in (
                Case("openai-concurrency1", "openai", concurrency=1),
                Case("openai-concurrency4", "openai", concurrency=4),
            )
        ]
    finally:
        server.stop()


def bench_vllm(args: argparse.Namespace, inputs: Any, work: Path) -> list[dict[str, Any]] | str:
    if not args.gpu or importlib.util.find_spec("vllm") is None:
        return "skipped: needs a CUDA GPU and the vllm package (--gpu)"
    case = Case(f"vllm-batch{args.batch_size}", "vllm", batch_size=args.batch_size)
    return [_measure(case, _settings(args, case), inputs, work)]


def _ratio(rows: list[dict[str, Any]], fast: str, slow: str) -> float | None:
    by_name = {r["case"]: r for r in rows}
    if fast in by_name and slow in by_name and by_name[slow]["pairs_per_second"]:
        return round(by_name[fast]["pairs_per_second"] / by_name[slow]["pairs_per_second"], 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12, help="pairs (half co-buy, half search-buy)")
    parser.add_argument("--relation", default="CAPABLE_OF,xWANT", help="relations asked per pair")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="longest continuation (default: 40 as `generate` for cosmo-lm, 24 for backends)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch/llama.cpp threads (0: default)")
    parser.add_argument("--gpu", action="store_true", help="run transformers on cuda and try vllm")
    parser.add_argument(
        "--suite",
        choices=("cosmo-lm", "backends"),
        default="cosmo-lm",
        help="cosmo-lm: today's default vs the tuned model on both CPU backends "
        "(generation_cosmo_lm.json); backends: batching / openai / vllm "
        "(generation.json)",
    )
    args = parser.parse_args()
    args.max_new_tokens = args.max_new_tokens or (40 if args.suite == "cosmo-lm" else 24)
    if args.suite == "cosmo-lm":
        main_cosmo_lm(args)
        return
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-gen-") as tmp:
        work = Path(tmp)
        pairs, products = sample_pairs(co_buy=args.pairs - args.pairs // 2, search_buy=args.pairs // 2)
        inputs = write_inputs(work / "inputs", pairs, products)
        print(
            f"{pairs.height} pairs x {args.relation}; SmolLM2-135M-Instruct, greedy, "
            f"max_new_tokens={args.max_new_tokens}",
            flush=True,
        )
        rows = bench_transformers(args, inputs, work)
        notes: dict[str, str] = {}
        for name, bench in (("openai", bench_openai), ("vllm", bench_vllm)):
            try:
                outcome = bench(args, inputs, work)
            except CosmoKGError as exc:
                outcome = f"failed: {exc}"
            if isinstance(outcome, str):
                notes[name] = outcome
                print(f"  {name}: {outcome}")
            else:
                rows += outcome
    ratios = {
        "batched_vs_unbatched": _ratio(
            rows, f"transformers-batch{args.batch_size}", "transformers-unbatched"
        ),
        "openai_concurrency4_vs_1": _ratio(rows, "openai-concurrency4", "openai-concurrency1"),
        "vllm_vs_transformers_batched": _ratio(
            rows, f"vllm-batch{args.batch_size}", f"transformers-batch{args.batch_size}"
        ),
    }
    result = {
        "benchmark": "generation",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "gpu": args.gpu,
        },
        "settings": vars(args),
        "runs": rows,
        "ratios": ratios,
        "notes": notes,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "generation.json" if not args.threads else f"generation-threads{args.threads}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'case':<26}{'pairs/s':>10}{'tokens/s':>10}{'tokens':>8}{'cands':>7}")
    for r in rows:
        print(
            f"{r['case']:<26}{r['pairs_per_second']:>10.3f}{r['tokens_per_second']:>10.1f}"
            f"{r['tokens']:>8}{r['candidates']:>7}"
        )
    print("ratios:", json.dumps(ratios))


def main_cosmo_lm(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-gen-") as tmp:
        work = Path(tmp)
        pairs, products = sample_pairs(co_buy=args.pairs - args.pairs // 2, search_buy=args.pairs // 2)
        inputs = write_inputs(work / "inputs", pairs, products)
        print(
            f"{pairs.height} pairs x {args.relation}; greedy, max_new_tokens={args.max_new_tokens}",
            flush=True,
        )
        load_before = os.getloadavg()[0]
        rows = bench_cosmo_lm(args, inputs, work)
    before, after = rows[0]["pairs_per_second"], rows[-1]["pairs_per_second"]
    result = {
        "benchmark": "generation_cosmo_lm",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "settings": vars(args),
        "runs": rows,
        "default_vs_before_pairs_per_second": round(after / before, 2) if before else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generation_cosmo_lm.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'case':<30}{'pairs/s':>9}{'prompt tok/s':>14}{'gen tok/s':>11}{'prompt tok':>11}{'cands':>7}")
    for r in rows:
        print(
            f"{r['case']:<30}{r['pairs_per_second']:>9.3f}{r['prompt_tokens_per_second']:>14.1f}"
            f"{r['tokens_per_second']:>11.1f}{r['prompt_tokens']:>11}{r['candidates']:>7}"
        )
    print(f"default vs before: {result['default_vs_before_pairs_per_second']}x pairs/s")


if __name__ == "__main__":
    main()
