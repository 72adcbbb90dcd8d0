"""A real two-node Ray cluster on loopback for the tests and benchmarks of ``--ray``.

Both nodes (`ray start --head` and a second `ray start --address`) run on this machine with one
CPU each and no dashboard; their files live in one short temporary directory (Ray's socket paths
must stay under 107 bytes, so not under pytest's long tmp_path). ``stop`` ends exactly the
processes of this cluster (by that directory and port), never other Ray sessions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
ACTOR_TITLE = "ray::_ActorBody"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalCluster:
    temp_dir: Path
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: the ones naming its directory or port, and their children."""
        marks = (str(self.temp_dir), f":{self.port}")
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["cmdline"]):
            if any(mark in arg for arg in proc.info["cmdline"] or () for mark in marks):
                found[proc.pid] = proc
                with contextlib.suppress(psutil.NoSuchProcess):
                    found |= {child.pid: child for child in proc.children(recursive=True)}
        return list(found.values())

    def actors(self) -> list[psutil.Process]:
        """The shard actors (model workers) now alive on this cluster."""
        alive = []
        for proc in self.processes():
            try:
                if proc.cmdline() and proc.cmdline()[0].startswith(ACTOR_TITLE):
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        return alive

    def lose_second_node(self) -> None:
        """Kill the joined node's raylet and everything under it (its actors), as if it were lost."""
        raylets = [p for p in self.processes() if p.name() == "raylet"]
        second = max(raylets, key=lambda p: p.create_time())
        for proc in [*second.children(recursive=True), second]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def _ray_start(*args: str) -> None:
    common = ["--num-cpus", "1", "--num-gpus", "0", "--node-ip-address", "127.0.0.1"]
    common += ["--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats"]
    # A lost node is declared dead after ~2 s of failed health checks (default: ~15-30 s).
    env = os.environ | {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500",
        "RAY_health_check_failure_threshold": "4",
    }
    subprocess.run([RAY, "start", *args, *common], check=True, capture_output=True, env=env, timeout=120)


def start() -> LocalCluster:
    """A head node and a second node joined to it, both on 127.0.0.1."""
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="cray", dir="/tmp")), free_port())
    try:
        _ray_start(
            "--head",
            "--port",
            str(cluster.port),
            "--include-dashboard",
            "false",
            "--ray-client-server-port",
            str(free_port()),
            "--temp-dir",
            str(cluster.temp_dir),
        )
        _ray_start("--address", cluster.address, "--temp-dir", str(cluster.temp_dir))
    except BaseException:
        stop(cluster)
        raise
    return cluster


def stop(cluster: LocalCluster) -> None:
    """Terminate this cluster's processes (kill the ones that linger) and remove its directory."""
    procs = cluster.processes()
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=3)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)
