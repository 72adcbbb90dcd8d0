"""The scale plan: the benchmark results of this repository multiplied out to the paper's size.

Reads the JSON results in benchmarks/results/ (nothing is measured here) and writes
benchmarks/results/scale_plan.json — every figure with the file and key it came from — and prints
the Markdown table that docs/scaling.md shows. A result that is missing is said as "not measured";
rerun this script after a benchmark (for example `bench_generation.py --gpu` on a GPU machine).

    python benchmarks/scale_plan.py
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cosmo_kg.vocabulary import BehaviorKind, relations_for

RESULTS = Path(__file__).resolve().parent / "results"
# SPEC §2, "Paper scale, for planning" (COSMO, SIGMOD 2024).
PAPER = {"co_buy_pairs": 3.1e6, "search_buy_pairs": 1.9e6, "nodes": 6.3e6, "edges": 29e6, "domains": 18}
EVENTS_PLANNED = 1e9  # a year of a mid-size shop's search and purchase events, for the ingest row
TARGET_UTILISATION = 0.6  # plan cores so that the busiest stays at 60% (latency headroom)
PAGE_CACHE_HEADROOM = 1.2  # the store plus a fifth for growth, as Neo4j's sizing guide advises
EMBEDDING_DIMENSION = 384  # all-MiniLM-L6-v2
PEER_RUN = "quiet-gc"  # the quiet-machine GraphQL run with the shipped settings
VECTOR_BYTES = "paper nodes (an upper bound) x 384 float32 (all-MiniLM-L6-v2, IVF-Flat or flat)"


@dataclass(frozen=True)
class Figure:
    stage: str
    quantity: str
    value: float | None
    unit: str
    source: str  # file and key of the measured rate the value comes from ("" for paper constants)
    measured_on: str


def _read(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _machine(result: dict[str, Any] | None) -> str:
    if not result:
        return "not measured"
    machine = result.get("machine", {})
    return "GPU" if machine.get("gpu") else f"{machine.get('cpus', 2)}-core CPU"


def prompts_total() -> float:
    pairs = PAPER["co_buy_pairs"] + PAPER["search_buy_pairs"]
    per_pair = len(relations_for(BehaviorKind.CO_BUY))  # every relation that applies, as by default
    return pairs * per_pair


def _fastest_run(result: dict[str, Any] | None, case: str = "") -> dict[str, Any] | None:
    """The run with the most prompts per second among those whose case names ``case``."""
    runs = [
        run
        for run in (result or {}).get("runs", [])
        if case in run.get("case", "") and run.get("seconds") and run.get("prompts")
    ]
    return max(runs, key=lambda run: run["prompts"] / run["seconds"]) if runs else None


def ingest_figures() -> list[Figure]:
    ingest = _read("ingest.json")
    if not ingest:
        return [Figure("ingest", "1e9 events", None, "h", "ingest.json", "not measured")]
    rate = ingest["runs"][-1]["cosmo_events_per_s"]
    source = f"ingest.json runs[-1].cosmo_events_per_s = {rate:,}"
    return [Figure("ingest", "1e9 events", round(EVENTS_PLANNED / rate / 3600, 2), "h", source, "2-core CPU")]


def generation_figures() -> list[Figure]:
    figures = []
    for name, label in (("generation_cosmo_lm.json", "CPU"), ("generation_gpu.json", "GPU")):
        result = _read(name)
        run = _fastest_run(result, "tuned") or _fastest_run(result)
        if run is None:
            figures.append(Figure("generate", f"machine-hours ({label})", None, "h", name, "not measured"))
            continue
        rate = run["prompts"] / run["seconds"]
        hours = prompts_total() / rate / 3600
        source = f"{name} runs[case={run['case']!r}] prompts/seconds = {rate:.2f} prompts/s"
        figures.append(
            Figure("generate", f"machine-hours ({label})", round(hours), "h", source, _machine(result))
        )
    return figures


def candidates_total() -> tuple[float, str]:
    run = _fastest_run(_read("generation_cosmo_lm.json"), "tuned")
    if run is None:
        return prompts_total(), "one candidate per prompt (no generation result)"
    per_prompt = run["candidates"] / run["prompts"]
    return prompts_total() * per_prompt, f"{per_prompt:.2f} candidates per prompt"


def refinement_figures() -> list[Figure]:
    critic = _read("critic.json")
    if not critic:
        return [Figure("refine", "machine-hours", None, "h", "critic.json", "not measured")]
    rate = critic["statements_per_second"]["new"]
    candidates, per_prompt = candidates_total()
    hours = candidates / rate / 3600
    source = f"critic.json statements_per_second.new = {rate:.0f}/s; {per_prompt}"
    return [Figure("refine", "machine-hours (critic scoring)", round(hours, 1), "h", source, "2-core CPU")]


def load_figures() -> list[Figure]:
    loader = _read("loader.json")
    if not loader:
        return [Figure("load", "first load", None, "h", "loader.json", "not measured")]
    bulk = loader["first_load_relationships_per_s"]
    incremental = loader["transactional_first_load_edges_per_s"]
    return [
        Figure(
            "load",
            "first load (offline importer)",
            round(PAPER["edges"] / bulk / 3600, 2),
            "h",
            f"loader.json first_load_relationships_per_s = {bulk:.0f}",
            "2-core CPU",
        ),
        Figure(
            "load",
            "1M new edges through transactions",
            round(1e6 / incremental / 60, 1),
            "min",
            f"loader.json transactional_first_load_edges_per_s = {incremental:.0f}",
            "2-core CPU",
        ),
    ]


def graph_figures() -> list[Figure]:
    size = _read("graph_size.json")
    if not size:
        return [Figure("graph", "store on disk", None, "GiB", "graph_size.json", "not measured")]
    per = size["store_bytes"]
    store = per["fixed"] + per["per_relationship"] * PAPER["edges"]
    source = f"graph_size.json store_bytes.per_relationship = {per['per_relationship']:.0f} B"
    return [
        Figure("graph", "store on disk", round(store / 2**30, 1), "GiB", source, "2-core CPU"),
        Figure(
            "graph", "page cache", round(store * PAGE_CACHE_HEADROOM / 2**30, 1), "GiB", source, "2-core CPU"
        ),
    ]


def index_figures() -> list[Figure]:
    faiss = _read("faiss.json")
    vectors = PAPER["nodes"]  # upper bound: the index holds intentions and queries, a part of the nodes
    flat_gib = vectors * EMBEDDING_DIMENSION * 4 / 2**30
    figures = [
        Figure("index", "vectors in memory per API worker", round(flat_gib, 1), "GiB", VECTOR_BYTES, "")
    ]
    if faiss:
        build = faiss["summary"]["clustered/ivf"]["build_seconds"] * vectors / faiss["vectors"]
        source = f"faiss.json summary.clustered/ivf.build_seconds for {faiss['vectors']:,} vectors"
        figures.append(Figure("index", "IVF build", round(build / 60, 1), "min", source, _machine(faiss)))
    return figures


def api_figures() -> list[Figure]:
    figures = []
    cached = _read("api.json")
    if cached:
        cpu = cached["scenarios"]["rest_cached"]["cpu_ms_per_request"]["api"]
        figures.append(_cores("REST cached", cpu, "api.json scenarios.rest_cached.cpu_ms_per_request.api"))
    workers = _read("api_workers.json")
    if workers:
        cpu = workers["summary"]["medians"]["2 workers"]["api_cpu_ms_per_request"]
        source = "api_workers.json summary.medians.2 workers.api_cpu_ms_per_request"
        figures.append(_cores("REST cached, 2 workers", cpu, source))
    peer = _read("api_peer.json")
    if peer:
        label = PEER_RUN if PEER_RUN in peer else "quiet"
        row = peer[label]["summary"][0]["cosmo-kg"]
        source = f"api_peer.json {label}.summary[c=16].cosmo-kg"
        figures.append(_cores("GraphQL uncached", row["server_cpu_ms"], source + ".server_cpu_ms"))
        figures.append(_cores("GraphQL uncached, Neo4j", row["neo4j_cpu_ms"], source + ".neo4j_cpu_ms"))
    return figures


def _cores(what: str, cpu_ms_per_request: float, source: str) -> Figure:
    cores = math.ceil(1000 * cpu_ms_per_request / 1000 / TARGET_UTILISATION * 10) / 10
    return Figure(
        "serve", f"cores per 1,000 rps: {what}", cores, "cores", f"{source} = {cpu_ms_per_request}", ""
    )


def plan() -> dict[str, Any]:
    figures = [
        *ingest_figures(),
        *generation_figures(),
        *refinement_figures(),
        *load_figures(),
        *graph_figures(),
        *index_figures(),
        *api_figures(),
    ]
    return {
        "paper": PAPER,
        "prompts": prompts_total(),
        "assumptions": {
            "relations_per_pair": len(relations_for(BehaviorKind.CO_BUY)),
            "target_utilisation": TARGET_UTILISATION,
            "page_cache_headroom": PAGE_CACHE_HEADROOM,
            "index_vectors": "all nodes (upper bound)",
        },
        "figures": [asdict(figure) for figure in figures],
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| stage | quantity | value | from |", "| --- | --- | --- | --- |"]
    for figure in result["figures"]:
        value = "not measured" if figure["value"] is None else f"{figure['value']:,} {figure['unit']}"
        lines.append(
            f"| {figure['stage']} | {figure['quantity']} | {value} | {figure['source'] or 'paper'} |"
        )
    return "\n".join(lines)


def main() -> None:
    result = plan()
    (RESULTS / "scale_plan.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['prompts']:,.0f} prompts for {PAPER['co_buy_pairs'] + PAPER['search_buy_pairs']:,.0f} pairs"
    )
    print(markdown(result))


if __name__ == "__main__":
    main()
