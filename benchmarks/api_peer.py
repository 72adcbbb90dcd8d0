"""The peer of ``bench_api.py --peer``: the same graph served by Neo4j's own GraphQL library.

``peer-neo4j-graphql/`` is a small Node project (@neo4j/graphql in Apollo Server, versions pinned
in its lockfile, installed by ``make bench-peer-setup``). Its type definitions are written here
from the relation vocabulary, so both servers answer over exactly the labels and relationship
types the loader writes. Both are asked the same question — a product's first page of one
relation's intentions above a plausibility — and their answers are compared id by id.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import neo4j
from api_graph import free_port
from loadgen import Request, run_load

from cosmo_kg.vocabulary import RELATIONS

PEER_DIR = Path(__file__).resolve().parent / "peer-neo4j-graphql"
RELATION = "USED_FOR_FUNC"
MIN_PLAUSIBILITY = 0.5
PAGE = 10

OURS = """
query Filtered($id: ID!, $relation: Relation!, $min: Float!, $first: Int!) {
  product(id: $id) {
    intentions(relation: $relation, minPlausibility: $min, first: $first) {
      edges { relation plausibility typicality node { text } }
    }
  }
}
"""
# The peer's connection field of one relation, sorted as our intentions are (best first, then text).
_PEER = """
query Filtered($id: ID!, $min: Float!, $first: Int!) {
  products(where: {product_id: {eq: $id}}) {
    %s(first: $first, where: {edge: {plausibility: {gte: $min}}},
       sort: [{edge: {plausibility: DESC}}, {edge: {typicality: DESC}}, {node: {text: ASC}}]) {
      edges { properties { plausibility typicality } node { text } }
    }
  }
}
"""


def field_name(relation: str) -> str:
    """The peer's field of a relation: ``USED_FOR_FUNC`` → ``usedForFunc``, ``xIS_A`` → ``xIsA``."""
    first, *rest = relation.split("_")
    head = first[0] + first[1:].capitalize() if first[0].islower() else first.lower()
    return head + "".join(part.capitalize() for part in rest)


def type_defs() -> str:
    """@neo4j/graphql type definitions of the knowledge graph, one field per relation."""
    fields = "\n".join(
        f'  {field_name(name)}: [Intention!]! @relationship(type: "{name}", direction: OUT, '
        'properties: "Knowledge")'
        for name in RELATIONS
    )
    return f"""type Product @node @mutation(operations: []) {{
  product_id: ID!
  title: String
  product_type: String
  domain: String
  brand: String
  popularity: Float
{fields}
}}

type Intention @node @mutation(operations: []) {{
  text: String!
  tail_types: [String!]
}}

type Knowledge @relationshipProperties {{
  plausibility: Float!
  typicality: Float!
  support: Int
}}
"""


def ours_request(pid: str) -> Request:
    variables = {"id": pid, "relation": RELATION, "min": MIN_PLAUSIBILITY, "first": PAGE}
    return ("POST", "/graphql", {"query": OURS, "variables": variables}, None)


def peer_request(pid: str) -> Request:
    query = _PEER % f"{field_name(RELATION)}Connection"
    variables = {"id": pid, "min": MIN_PLAUSIBILITY, "first": PAGE}
    return ("POST", "/graphql", {"query": query, "variables": variables}, None)


Answer = list[tuple[str, float, float]]


def ours_answer(data: dict[str, Any]) -> Answer | None:
    product = data["product"]
    if product is None:
        return None
    edges = product["intentions"]["edges"]
    return [(e["node"]["text"], e["plausibility"], e["typicality"]) for e in edges]


def peer_answer(data: dict[str, Any]) -> Answer | None:
    if not data["products"]:
        return None
    edges = data["products"][0][f"{field_name(RELATION)}Connection"]["edges"]
    return [
        (e["node"]["text"], e["properties"]["plausibility"], e["properties"]["typicality"]) for e in edges
    ]


def answers(
    base_url: str,
    make: Callable[[str], Request],
    read: Callable[[dict[str, Any]], Answer | None],
    ids: list[str],
) -> dict[str, Answer | None]:
    """Each id's answer from one server (sequentially: this is the correctness check, not load)."""
    found = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for pid in ids:
            _, path, body, _ = make(pid)
            reply = client.post(path, json=body).json()
            if reply.get("errors"):
                raise RuntimeError(f"{base_url} answered {pid} with errors: {reply['errors']}")
            found[pid] = read(reply["data"])
    return found


def compare(ids: list[str], ours_url: str, peer_url: str) -> dict[str, Any]:
    """Ask both servers every id; the count of equal answers and the first differences."""
    mine = answers(ours_url, ours_request, ours_answer, ids)
    theirs = answers(peer_url, peer_request, peer_answer, ids)
    differ = [pid for pid in ids if mine[pid] != theirs[pid]]
    return {
        "ids": len(ids),
        "identical": len(ids) - len(differ),
        "edges": sum(len(a or ()) for a in mine.values()),
        "first_differences": {pid: {"ours": mine[pid], "peer": theirs[pid]} for pid in differ[:3]},
    }


def start_peer(
    neo4j_uri: str, password: str, port: int, work: Path, log: Path, debug: str = ""
) -> subprocess.Popen[bytes]:
    """The Node peer on ``port`` over the given Neo4j (``debug``: its DEBUG namespaces); waits
    until it answers GraphQL."""
    if not (PEER_DIR / "node_modules").is_dir():
        raise RuntimeError(f"the peer is not installed: run `make bench-peer-setup` ({PEER_DIR})")
    defs = work / "peer-type-defs.graphql"
    defs.write_text(type_defs())
    env = {
        **os.environ,
        "PEER_TYPEDEFS": str(defs),
        "PEER_PORT": str(port),
        "NEO4J_URI": neo4j_uri,
        "NEO4J_PASSWORD": password,
        "NODE_ENV": "production",
        **({"DEBUG": debug} if debug else {}),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["node", "server.mjs"], cwd=PEER_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            reply = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{__typename}"}, timeout=2)
            if reply.status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the peer did not start; see {log}")


def captured_peer_cypher(neo4j_uri: str, password: str, work: Path, pid: str) -> tuple[str, dict[str, Any]]:
    """The Cypher and parameters @neo4j/graphql sends for the peer query of ``pid``, read from its
    debug log (a separate, short-lived peer: the logging would cost the measured one CPU)."""
    log = work / "peer-debug.log"
    log.unlink(missing_ok=True)
    port = free_port()
    process = start_peer(neo4j_uri, password, port, work, log, debug="@neo4j/graphql:execution")
    try:
        answers(f"http://127.0.0.1:{port}", peer_request, peer_answer, [pid])
    finally:
        process.terminate()
        process.wait(30)
    return _last_statement(log.read_text())


_PARAM = re.compile(r"(param\d+): (?:Integer \{ low: (\d+)|'([^']*)'|([\d.]+))")


def _last_statement(log: str) -> tuple[str, dict[str, Any]]:
    block = log.rsplit("executing cypher", 1)[1]
    statement = block.split("CYPHER 5", 1)[1].split("\n20", 1)[0].strip()
    params: dict[str, Any] = {}
    for name, integer, text, number in _PARAM.findall(block):
        params[name] = int(integer) if integer else text if not number else float(number)
    return statement, params


def ours_statements(pid: str) -> list[tuple[str, dict[str, Any]]]:
    """The statements our API sends for the filtered query of ``pid`` (the product and its page,
    read ahead in one round trip), with their parameters, as ``GraphReader`` builds them."""
    from cosmo_kg.api import statements
    from cosmo_kg.api.reads import EdgeFilter
    from cosmo_kg.vocabulary import NodeLabel

    page = EdgeFilter((RELATION,), MIN_PLAUSIBILITY, 0.0, 0, PAGE)
    statement = statements.head_intentions(NodeLabel.PRODUCT, page.relations, with_product=True)
    return [(statement, {"keys": [pid], **page.params(), "limit": PAGE + 1})]


def db_hits(driver: neo4j.Driver, statement: str, params: dict[str, Any]) -> int:
    """Database hits of one statement, from its PROFILE."""
    summary = driver.execute_query("PROFILE " + statement, params).summary
    return _plan_hits(summary.profile or {})


def _plan_hits(plan: dict[str, Any]) -> int:
    return int(plan.get("dbHits", 0)) + sum(_plan_hits(child) for child in plan.get("children", ()))


@dataclass
class PeerServers:
    """Both servers under measurement: base URL and pid of each, and Neo4j's pid."""

    urls: dict[str, str]
    pids: dict[str, int]
    neo4j_pid: int


SIDES: dict[str, Callable[[str], Request]] = {"cosmo-kg": ours_request, "peer": peer_request}


def hub_product(driver: neo4j.Driver) -> str:
    """The product with the most relationships: where expanding only the asked type matters."""
    return str(
        driver.execute_query(
            "MATCH (p:Product) RETURN p.product_id AS id ORDER BY COUNT { (p)--() } DESC LIMIT 1"
        ).records[0]["id"]
    )


def hub_db_hits(driver: neo4j.Driver, neo4j_uri: str, password: str, work: Path) -> dict[str, Any]:
    """Database hits of each side's statements for the filtered query of the hub product."""
    hub = hub_product(driver)
    peer_statement = captured_peer_cypher(neo4j_uri, password, work, hub)
    ours = sum(db_hits(driver, statement, params) for statement, params in ours_statements(hub))
    peer = db_hits(driver, *peer_statement)
    return {
        "product": hub,
        "relationships": driver.execute_query(
            "MATCH (p:Product {product_id: $id}) RETURN COUNT { (p)--() } AS n", id=hub
        ).records[0]["n"],
        "cosmo-kg": ours,
        "peer": peer,
        "ratio": round(ours / max(peer, 1), 2),
        "peer_cypher": peer_statement[0],
    }


def alternate(servers: PeerServers, ids: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Closed-loop runs A/B, B/A, … at each concurrency, after one warm-up of each side."""
    for side, make in SIDES.items():
        run_load(servers.urls[side], make, ids, args.warmup, max(args.peer_concurrency), 60, seed=1)
    runs = []
    for concurrency in args.peer_concurrency:
        for round_ in range(args.peer_rounds):
            # A B, then B A: a neighbour's periodic job does not always land on the same side.
            for side, make in list(SIDES.items())[:: -1 if round_ % 2 else 1]:
                processes = {"server": servers.pids[side], "neo4j": servers.neo4j_pid}
                result = run_load(
                    servers.urls[side],
                    make,
                    ids,
                    args.requests,
                    concurrency,
                    args.max_seconds,
                    seed=round_,
                    processes=processes,
                )
                print(f"  {side} c={concurrency} round {round_ + 1}: {result}", flush=True)
                runs.append({"side": side, "concurrency": concurrency, "round": round_ + 1, **asdict(result)})
    return runs


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency: each side's mean over its rounds, and cosmo-kg's ratios to the peer."""
    rows = []
    for concurrency in dict.fromkeys(r["concurrency"] for r in runs):
        side = {
            name: _mean_of([r for r in runs if r["side"] == name and r["concurrency"] == concurrency])
            for name in SIDES
        }
        ours, peer = side["cosmo-kg"], side["peer"]
        rows.append(
            {
                "concurrency": concurrency,
                **{name: values for name, values in side.items()},
                "throughput_ratio": round(ours["requests_per_s"] / max(peer["requests_per_s"], 1e-9), 2),
                "p99_ratio": round(ours["p99_ms"] / max(peer["p99_ms"], 1e-9), 2),
                # Throughput when CPU is the limit (a shared 2-core machine): the inverse ratio of the
                # CPU (server + Neo4j) each answer costs, which other processes' load does not move.
                "cpu_bound_throughput_ratio": round(_cpu(peer) / max(_cpu(ours), 1e-9), 2),
            }
        )
    return rows


def _cpu(side: dict[str, float]) -> float:
    return side["server_cpu_ms"] + side["neo4j_cpu_ms"]


def _mean_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 2)

    return {
        "requests_per_s": mean([r["requests_per_s"] for r in runs]),
        "p50_ms": mean([r["p50_ms"] for r in runs]),
        "p99_ms": mean([r["p99_ms"] for r in runs]),
        "server_cpu_ms": mean([r["cpu_ms_per_request"]["server"] for r in runs]),
        "neo4j_cpu_ms": mean([r["cpu_ms_per_request"]["neo4j"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "other_processes_cores": mean([r["other_processes_cores"] for r in runs]),
    }


def print_summary(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'conc':>5}{'ours req/s':>11}{'peer req/s':>11}{'ratio':>7}{'cpu ratio':>10}"
        f"{'ours p99':>9}{'peer p99':>9}"
        f"{'ours cpu ms':>12}{'peer cpu ms':>12}{'neo4j ms ours':>14}{'neo4j ms peer':>14}{'others':>7}"
    )
    for row in rows:
        ours, peer = row["cosmo-kg"], row["peer"]
        print(
            f"{row['concurrency']:>5}{ours['requests_per_s']:>11}{peer['requests_per_s']:>11}"
            f"{row['throughput_ratio']:>7}{row['cpu_bound_throughput_ratio']:>10}{ours['p99_ms']:>9}{peer['p99_ms']:>9}{ours['server_cpu_ms']:>12}"
            f"{peer['server_cpu_ms']:>12}{ours['neo4j_cpu_ms']:>14}{peer['neo4j_cpu_ms']:>14}"
            f"{max(ours['other_processes_cores'], peer['other_processes_cores']):>7}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peer", action="store_true", help="run beside @neo4j/graphql instead (see above)")
    parser.add_argument("--peer-ids", type=int, default=2000, help="--peer: product ids asked of both")
    parser.add_argument(
        "--peer-concurrency", type=int, nargs="+", default=[16, 64], help="--peer: closed-loop concurrencies"
    )
    parser.add_argument("--peer-rounds", type=int, default=2, help="--peer: A/B rounds per concurrency")
    parser.add_argument("--label", default="latest", help="--peer: the key of this run in api_peer.json")


def write_report(
    results: Path,
    args: argparse.Namespace,
    edges: int,
    check: dict[str, Any],
    hits: dict[str, Any],
    runs: list[dict[str, Any]],
) -> None:
    """Add this run to results/api_peer.json under ``args.label`` and print its table."""
    rows = summary(runs)
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 1)},
        "knowledge_edges": edges,
        "closed_loop_requests": args.requests,
        "answers": check,
        "hub_db_hits": hits,
        "summary": rows,
        "runs": runs,
    }
    path = results / "api_peer.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[args.label] = report
    results.mkdir(exist_ok=True)
    path.write_text(json.dumps(recorded, indent=2) + "\n")
    print_summary(rows)
    print(
        f"answers identical: {check['identical']}/{check['ids']}; hub {hits['product']} db hits "
        f"cosmo-kg {hits['cosmo-kg']} vs peer {hits['peer']}"
    )
