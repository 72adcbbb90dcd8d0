"""``cosmo-kg doctor``: check the environment and say how to fix what is missing."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from cosmo_kg.errors import CosmoKGError
from cosmo_kg.settings import load_settings

OK, WARN, FAIL = "ok", "warn", "FAIL"

# Python packages per feature: (import name, pip name, what needs it, required?)
PACKAGES: tuple[tuple[str, str, str, bool], ...] = (
    ("neo4j", "neo4j", "graph store", True),
    ("polars", "polars", "every stage", True),
    ("pyarrow", "pyarrow", "Parquet files", True),
    ("rapidfuzz", "rapidfuzz", "ingest sampling, refinement filters", False),
    ("sentence_transformers", "sentence-transformers", "embeddings (refinement, semantic index)", False),
    ("faiss", "faiss-cpu", "semantic index (extra: cpu; the gpu extra brings faiss-gpu-cu12 instead)", False),
    ("transformers", "transformers", "local LLM backend, critic", False),
    ("torch", "torch", "local models", False),
    ("strawberry", "strawberry-graphql", "GraphQL API", False),
    ("fastapi", "fastapi", "API server", False),
    ("vllm", "vllm", "GPU generation backend (extra: gpu)", False),
)


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    detail: str
    hint: str = ""


def check_java() -> Check:
    from cosmo_kg.graph.jvm import MIN_JAVA, java_major_version

    try:
        major = java_major_version()
    except CosmoKGError as exc:
        return Check("java", FAIL, exc.message, exc.hint or "")
    if major < MIN_JAVA:
        return Check("java", FAIL, f"Java {major}", f"install Java {MIN_JAVA}+ for the local Neo4j")
    return Check("java", OK, f"Java {major}")


def check_maven() -> Check:
    from cosmo_kg.graph.server import LocalNeo4jSettings

    jars = load_settings(LocalNeo4jSettings).jar_dir
    if (jars / ".complete").exists():
        return Check("neo4j jars", OK, f"cached in {jars}")
    if shutil.which("mvn"):
        return Check("neo4j jars", WARN, "not cached yet; Maven will fetch them on first start")
    return Check("neo4j jars", FAIL, "not cached and Maven is missing", "apt-get install maven")


def check_neo4j() -> Check:
    from cosmo_kg.graph.connection import CredentialsError, Neo4jSettings, create_driver

    settings = load_settings(Neo4jSettings)
    try:
        driver = create_driver(settings)
    except CredentialsError as exc:
        return Check("neo4j", FAIL, exc.message, exc.hint or "")
    except CosmoKGError as exc:
        return Check("neo4j", WARN, exc.message, exc.hint or "")
    with driver:
        info = driver.get_server_info()
    return Check("neo4j", OK, f"{info.agent} at {settings.uri}")


def check_neo4j_password() -> Check:
    """The local server's password file: present once it started, readable by its owner only."""
    from cosmo_kg.graph import local_auth
    from cosmo_kg.graph.server import LocalNeo4jSettings

    home = load_settings(LocalNeo4jSettings).home_path
    path = local_auth.password_path(home)
    if not path.exists():
        if local_auth.has_system_database(home):
            return Check(
                "neo4j password",
                WARN,
                f"the local Neo4j in {home} has no password yet",
                "`cosmo-kg neo4j start` sets one (it restarts a server running without)",
            )
        return Check("neo4j password", OK, "created by the first `cosmo-kg neo4j start`")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            "neo4j password", FAIL, f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}"
        )
    return Check("neo4j password", OK, f"{path} (mode 600; `cosmo-kg neo4j password` prints it)")


def check_package(module: str, pip_name: str, purpose: str, required: bool) -> Check:
    if importlib.util.find_spec(module) is None:
        state = FAIL if required else WARN
        return Check(f"python: {module}", state, f"missing (needed for {purpose})", f"pip install {pip_name}")
    return Check(f"python: {module}", OK, purpose)


def check_gpu() -> Check:
    if shutil.which("nvidia-smi") is None:
        return Check(
            "gpu",
            WARN,
            "no NVIDIA GPU found; CPU backends will be used",
            "optional: the vllm backend and faiss-gpu need one",
        )
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return Check("gpu", OK if out.returncode == 0 else WARN, out.stdout.strip() or out.stderr.strip())


def check_python() -> Check:
    # Older interpreters cannot import cosmo-kg at all, so reaching here means >= 3.11.
    return Check("python", OK, ".".join(map(str, sys.version_info[:3])))


def run_checks() -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_python,
        check_java,
        check_maven,
        check_neo4j,
        check_neo4j_password,
    ]
    results = [check() for check in checks]
    results += [check_package(*spec) for spec in PACKAGES]
    results.append(check_gpu())
    return results


@click.command("doctor")
def doctor_command(**_: Any) -> None:
    """Check Python, Java, Maven, Neo4j reachability, Python packages and GPU; exit 1 on FAIL."""
    results = run_checks()
    colours = {OK: "green", WARN: "yellow", FAIL: "red"}
    for check in results:
        line = f"[{check.state:>4}] {check.name}: {check.detail}"
        click.secho(line, fg=colours[check.state])
        if check.hint and check.state != OK:
            click.echo(f"       fix: {check.hint}")
    if any(c.state == FAIL for c in results):
        raise SystemExit(1)
