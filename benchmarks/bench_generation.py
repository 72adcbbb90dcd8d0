"""Benchmark: knowledge generation with the real SmolLM2-135M-Instruct, batched vs the naive way.

Runs the generate stage on the same real pairs (IntentionQA co-buy + WANDS search-buy samples)
and the same greedy settings. Suite ``cosmo-lm`` (default): the generate default before COSMO-LM
(batched transformers, base model, 3 worked examples) vs the tuned model with short prompts on
both CPU backends (llama.cpp in process is the new default), prompt and generated tokens/s apart;
writes benchmarks/results/generation_cosmo_lm.json. Suite ``backends``:
1. ``transformers`` unbatched (one prompt per model call: the naive way) vs batched;
2. ``openai`` against a local llama.cpp server (llama_cpp.server, same SmolLM2 GGUF) with one
   request in flight vs four (needs scripts/install_llama_cpp.sh; skipped with a note if absent).
Writes benchmarks/results/generation.json (generation-threadsN.json with --threads N) and prints
a short table. Suite ``concurrency``: pairs/s of the ``openai`` backend against concurrency
(1, 2, 4, 8; batch_size 1, a whole shard per call) on a local llama-cpp-python server (one request
at a time) and, with ``--llama-server-bin``, llama.cpp's ``llama-server --parallel 8`` (continuous
batching); rounds alternate the order; writes generation_concurrency.json. ``--gpu``: the offline
``vllm`` backend (base model and the COSMO-LM adapter as a LoRA) beside batched ``transformers``
on CUDA, writes generation_gpu.json; exits with a message when vllm or a CUDA GPU is missing.

    python benchmarks/bench_generation.py                    # today's default vs COSMO-LM, 12 pairs x 2
    python benchmarks/bench_generation.py --suite backends   # batching, openai
    python benchmarks/bench_generation.py --suite concurrency --llama-server-bin PATH
    python benchmarks/bench_generation.py --gpu --pairs 200  # on a GPU machine with cosmo-kg[gpu]
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

import psutil

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
    parser.add_argument(
        "--gpu", action="store_true", help="the vllm backend on a CUDA GPU (generation_gpu.json)"
    )
    parser.add_argument(
        "--suite",
        choices=("cosmo-lm", "backends", "concurrency"),
        default="cosmo-lm",
        help="cosmo-lm: today's default vs the tuned model on both CPU backends "
        "(generation_cosmo_lm.json); backends: batching / openai (generation.json); "
        "concurrency: openai pairs/s against requests in flight (generation_concurrency.json)",
    )
    parser.add_argument("--concurrency", default="1,2,4,8", help="concurrency suite: levels")
    parser.add_argument("--rounds", type=int, default=2, help="concurrency suite: rounds (order alternates)")
    parser.add_argument("--llama-server-bin", type=Path, help="concurrency suite: llama.cpp's llama-server")
    args = parser.parse_args()
    args.max_new_tokens = args.max_new_tokens or (40 if args.suite == "cosmo-lm" or args.gpu else 24)
    suites = {"cosmo-lm": main_cosmo_lm, "concurrency": main_concurrency}
    if args.gpu:
        main_gpu(args)
        return
    if args.suite in suites:
        suites[args.suite](args)
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
        try:
            outcome = bench_openai(args, inputs, work)
        except CosmoKGError as exc:
            outcome = f"failed: {exc}"
        if isinstance(outcome, str):
            notes["openai"] = outcome
            print(f"  openai: {outcome}")
        else:
            rows += outcome
    ratios = {
        "batched_vs_unbatched": _ratio(
            rows, f"transformers-batch{args.batch_size}", "transformers-unbatched"
        ),
        "openai_concurrency4_vs_1": _ratio(rows, "openai-concurrency4", "openai-concurrency1"),
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


def _concurrency_servers(args: argparse.Namespace, levels: list[int]) -> list[tuple[str, dict[str, Any]]]:
    servers: list[tuple[str, dict[str, Any]]] = [("llama_cpp.server", {})]
    if args.llama_server_bin:
        parallel = max(levels)
        servers.append(
            (f"llama-server --parallel {parallel}", {"binary": args.llama_server_bin, "parallel": parallel})
        )
    return servers


def bench_concurrency(args: argparse.Namespace, inputs: Any, work: Path) -> list[dict[str, Any]]:
    """Each server: every concurrency level once per round, the order reversed every other round
    (a load that drifts during the run then favours no level)."""
    levels = [int(level) for level in args.concurrency.split(",")]
    rows = []
    for label, options in _concurrency_servers(args, levels):
        server = start_llama_server(work / "llama-server.log", threads=args.threads or 1, **options)
        process = psutil.Process(server.process.pid)
        try:
            for round_ in range(args.rounds):
                for level in levels if round_ % 2 == 0 else levels[::-1]:
                    case = Case(f"{label} c{level}", "openai", concurrency=level)
                    cpu_before = sum(process.cpu_times()[:2])
                    row = _measure(case, _settings(args, case, server.base_url), inputs, work / f"r{round_}")
                    # CPU per prompt is what batching saves; wall time also shows the neighbours' load.
                    cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000 / max(row["prompts"], 1)
                    rows.append(
                        row | {"server": label, "round": round_, "server_cpu_ms_per_prompt": round(cpu_ms)}
                    )
        finally:
            server.stop()
    return rows


def _concurrency_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for server in dict.fromkeys(r["server"] for r in rows):
        mine = [r for r in rows if r["server"] == server]
        for level in dict.fromkeys(r["concurrency"] for r in mine):
            runs = [r for r in mine if r["concurrency"] == level]
            pairs = sum(r["pairs_per_second"] for r in runs) / len(runs)
            cpu = sum(r["server_cpu_ms_per_prompt"] for r in runs) / len(runs)
            summary.append(
                {
                    "server": server,
                    "concurrency": level,
                    "pairs_per_second": round(pairs, 4),
                    "pairs_per_second_by_round": [r["pairs_per_second"] for r in runs],
                    "server_cpu_ms_per_prompt": round(cpu),
                }
            )
    for row in summary:
        base = next(s for s in summary if s["server"] == row["server"])["pairs_per_second"]
        row["vs_first_level"] = round(row["pairs_per_second"] / base, 2) if base else None
    return summary


def _record(name: str, args: argparse.Namespace, load_before: float, **fields: Any) -> None:
    result = {
        "benchmark": name.removesuffix(".json"),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "gpu": args.gpu,
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **fields,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _sample_inputs(args: argparse.Namespace, work: Path) -> Any:
    pairs, products = sample_pairs(co_buy=args.pairs - args.pairs // 2, search_buy=args.pairs // 2)
    print(f"{pairs.height} pairs x {args.relation}; greedy, max_new_tokens={args.max_new_tokens}", flush=True)
    return write_inputs(work / "inputs", pairs, products)


def main_concurrency(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-gen-") as tmp:
        rows = bench_concurrency(args, _sample_inputs(args, Path(tmp)), Path(tmp))
    summary = _concurrency_summary(rows)
    _record("generation_concurrency.json", args, load_before, runs=rows, summary=summary)
    print(f"\n{'server':<30}{'concurrency':>12}{'pairs/s':>10}{'vs c1':>8}{'server CPU ms/prompt':>22}")
    for row in summary:
        print(
            f"{row['server']:<30}{row['concurrency']:>12}{row['pairs_per_second']:>10.3f}"
            f"{row['vs_first_level']:>8}{row['server_cpu_ms_per_prompt']:>22}"
        )


def gpu_missing() -> str | None:
    """Why the GPU suite cannot run here, or None."""
    if importlib.util.find_spec("vllm") is None:
        return "the vllm package is not installed (pip install 'cosmo-kg[gpu]' on a GPU machine)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch (nvidia-smi; CUDA_VISIBLE_DEVICES)"
    return None


def main_gpu(args: argparse.Namespace) -> None:
    """vllm offline (whole shards, base and COSMO-LM LoRA) beside the naive way on the same GPU:
    batched transformers. Results in generation_gpu.json (read by scale_plan.py)."""
    reason = gpu_missing()
    if reason is not None:
        sys.exit(f"bench_generation.py --gpu cannot run here: {reason}; nothing was measured")
    cases = (
        Case(
            f"transformers cuda batch{args.batch_size} tuned",
            "transformers",
            args.batch_size,
            adapter="default",
            exemplars=0,
        ),
        Case("vllm base 2ex", "vllm"),
        Case("vllm tuned (LoRA)", "vllm", adapter="default", exemplars=0),
    )
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-gen-") as tmp:
        inputs = _sample_inputs(args, Path(tmp))
        rows = [
            _measure(case, _settings(args, case), inputs, Path(tmp)) | {"adapter": case.adapter}
            for case in cases
        ]
    _record("generation_gpu.json", args, load_before, runs=rows)
    print(f"\n{'case':<36}{'pairs/s':>10}{'tokens/s':>10}{'prompts':>9}")
    for r in rows:
        print(
            f"{r['case']:<36}{r['pairs_per_second']:>10.3f}{r['tokens_per_second']:>10.1f}{r['prompts']:>9}"
        )


if __name__ == "__main__":
    main()
