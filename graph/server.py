"""The local Neo4j: a real Neo4j Community server assembled from Maven Central jars.

``start`` fetches the jars once per machine into a cache outside the work tree, writes a
``neo4j.conf`` under the data directory, launches ``org.neo4j.server.CommunityEntryPoint`` on
127.0.0.1 in its own process session and waits until Bolt answers. Authentication is on, with
a generated password kept beside the data (``local_auth``). ``stop`` sends SIGTERM
(Neo4j shuts down cleanly) and waits. The data directory survives restarts.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from cosmo_kg.errors import ConfigError, GraphError
from cosmo_kg.graph import local_auth
from cosmo_kg.graph.connection import CredentialsError, Neo4jSettings, create_driver
from cosmo_kg.graph.jvm import (
    MIN_JAVA,
    class_sharing_flags,
    drop_pending_archive,
    java_major_version,
    keep_pending_archive,
)
from cosmo_kg.settings import SettingsGroup, setting
from cosmo_kg.workspace import machine_cache_dir

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dfile.encoding=UTF-8",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
)
_MEMORY = re.compile(r"^\d+[kmgKMG]$")


@dataclass(frozen=True)
class LocalNeo4jSettings(SettingsGroup):
    section = "local_neo4j"

    home: str = setting(
        ".cosmo-kg/neo4j", "data directory of the local server (conf, data, logs)", env="COSMO_NEO4J_HOME"
    )
    bolt_port: int = setting(7687, "Bolt port on 127.0.0.1", env="COSMO_NEO4J_BOLT_PORT")
    http_port: int = setting(
        7474, "HTTP port on 127.0.0.1 (Neo4j Browser at /browser/)", env="COSMO_NEO4J_HTTP_PORT"
    )
    heap: str = setting("1g", "JVM heap (-Xms/-Xmx), e.g. 512m, 4g", env="COSMO_NEO4J_HEAP")
    pagecache: str = setting("512m", "page cache size", env="COSMO_NEO4J_PAGECACHE")
    version: str = setting(
        "5.26.19", "Neo4j Community version fetched from Maven Central", env="COSMO_NEO4J_VERSION"
    )
    cache_dir: str = setting(
        "", "where the Neo4j jars are cached (default ~/.cache/cosmo-kg)", env="COSMO_CACHE_DIR"
    )
    start_timeout: float = setting(
        180.0, "seconds to wait for the server to answer", env="COSMO_NEO4J_START_TIMEOUT"
    )

    def validate(self) -> None:
        for key in ("heap", "pagecache"):
            if not _MEMORY.match(getattr(self, key)):
                raise self.bad_value(key, "use a size such as 512m or 2g")
        for key in ("bolt_port", "http_port"):
            if not 0 < getattr(self, key) < 65536:
                raise self.bad_value(key, "use a port between 1 and 65535")

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/browser/"

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def jar_dir(self) -> Path:
        root = Path(self.cache_dir).expanduser() if self.cache_dir else machine_cache_dir()
        return root / f"neo4j-{self.version}" / "lib"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    bolt_uri: str
    browser_url: str
    home: Path


def ensure_jars(settings: LocalNeo4jSettings, *, echo: object = print) -> Path:
    """Return the cached jar directory, fetching it with Maven the first time on this machine."""
    lib = settings.jar_dir
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None:
        raise ConfigError(
            "Maven is not installed and the Neo4j jars are not cached yet",
            hint="install Maven (`apt-get install maven`) once; the jars are then cached",
        )
    echo(f"Fetching Neo4j {settings.version} jars from Maven Central into {lib} (once per machine)...")  # type: ignore[operator]
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
    pom = resources.files("cosmo_kg.graph").joinpath("neo4j/pom.xml").read_text(encoding="utf-8")
    (staging / "pom.xml").write_text(pom, encoding="utf-8")
    command = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(staging / "pom.xml"),
        f"-Dneo4j.version={settings.version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging / 'lib'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise GraphError(
            f"Maven could not fetch Neo4j {settings.version}: "
            f"{(result.stdout + result.stderr).strip()[-800:]}",
            hint="check network access to Maven Central and the version setting",
        )
    shutil.rmtree(lib, ignore_errors=True)
    (staging / "lib").rename(lib)
    shutil.rmtree(staging, ignore_errors=True)
    (lib / ".complete").write_text(settings.version, encoding="utf-8")
    return lib


def client_settings(settings: LocalNeo4jSettings, **overrides: object) -> Neo4jSettings:
    """Client settings for this local server, with its password."""
    return Neo4jSettings(
        uri=settings.bolt_uri, password=local_auth.read_password(settings.home_path), **overrides
    )


def render_conf(settings: LocalNeo4jSettings, *, auth: bool = True) -> str:
    """The neo4j.conf of the local server (unknown keys would stop Neo4j: keep to real ones)."""
    home = settings.home_path
    return "\n".join(
        [
            "server.default_listen_address=127.0.0.1",
            "server.default_advertised_address=127.0.0.1",
            f"server.bolt.listen_address=127.0.0.1:{settings.bolt_port}",
            f"server.bolt.advertised_address=127.0.0.1:{settings.bolt_port}",
            "server.http.enabled=true",
            f"server.http.listen_address=127.0.0.1:{settings.http_port}",
            f"server.http.advertised_address=127.0.0.1:{settings.http_port}",
            "server.https.enabled=false",
            f"dbms.security.auth_enabled={str(auth).lower()}",
            "dbms.usage_report.enabled=false",
            f"server.memory.pagecache.size={settings.pagecache}",
            "db.transaction.timeout=0",
            # Bolt otherwise idles 5 s twice after the databases are checkpointed and closed: a stop
            # took 10.5 s instead of 0.6 s (and the offline importer stops the server once per load).
            "internal.server.bolt.thread_pool_shutdown_wait_time=0s",
            "internal.server.bolt.connection_shutdown_wait_time=0s",
            f"server.directories.data={home / 'data'}",
            f"server.directories.logs={home / 'logs'}",
            f"server.directories.run={home / 'run'}",
            f"server.directories.plugins={home / 'plugins'}",
            f"server.directories.import={home / 'import'}",
            "",
        ]
    )


def _pid_file(settings: LocalNeo4jSettings) -> Path:
    return settings.home_path / "neo4j.pid"


def _console_log(settings: LocalNeo4jSettings) -> Path:
    return settings.home_path / "logs" / "console.log"


def _alive_pid(settings: LocalNeo4jSettings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    return pid if ENTRY_POINT in cmdline and str(settings.home_path) in cmdline else None


def settings_in_use(settings: LocalNeo4jSettings) -> LocalNeo4jSettings:
    """``settings`` with the heap, page cache and HTTP port the running server was started with,
    so that a restart (e.g. around an offline import) keeps them."""
    pid = _alive_pid(settings)
    if pid is None:
        return settings
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    heap = next((a.removeprefix("-Xmx") for a in arguments if a.startswith("-Xmx")), settings.heap)
    conf = dict(
        line.split("=", 1)
        for line in (settings.home_path / "conf" / "neo4j.conf").read_text(encoding="utf-8").splitlines()
        if "=" in line
    )
    http_port = int(conf.get("server.http.listen_address", f":{settings.http_port}").rsplit(":", 1)[1])
    return replace(
        settings,
        heap=heap,
        http_port=http_port,
        pagecache=conf.get("server.memory.pagecache.size", settings.pagecache),
    )


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def status(settings: LocalNeo4jSettings) -> ServerStatus:
    """Whether the local server of this data directory is running."""
    pid = _alive_pid(settings)
    return ServerStatus(pid is not None, pid, settings.bolt_uri, settings.browser_url, settings.home_path)


def start(settings: LocalNeo4jSettings, *, echo: object = print) -> ServerStatus:
    """Start the local server (idempotent) with authentication on and wait until Bolt answers.

    The first start generates the password; a server from before authentication (running or
    not) is restarted once with a password. Raises ``ConfigError`` (Java, Maven) or
    ``GraphError`` (busy port, failed start, a password the server refuses).
    """
    current = status(settings)
    locked = bool(local_auth.read_password(settings.home_path))
    if current.running and locked:
        return current
    if current.running:
        echo("The local Neo4j runs without authentication: restarting it with a password...")  # type: ignore[operator]
        stop(settings)
    if java_major_version() < MIN_JAVA:
        raise ConfigError(
            f"Neo4j 5 needs Java {MIN_JAVA} or newer", hint="install openjdk-17 and put it first on PATH"
        )
    lib = ensure_jars(settings, echo=echo)
    for key in ("bolt_port", "http_port"):
        port = getattr(settings, key)
        if _port_in_use(port):
            raise GraphError(
                f"port {port} on 127.0.0.1 is already in use",
                hint=f"stop what uses it or choose another with {LocalNeo4jSettings.option_name(key)}",
            )
    home = settings.home_path
    for sub in ("conf", "data", "logs", "run", "plugins", "import"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    if not locked:
        _create_password(settings, lib, echo)
    _launch(settings, lib, auth=True)
    return status(settings)


def _create_password(settings: LocalNeo4jSettings, lib: Path, echo: object) -> None:
    """Generate the password and give it to Neo4j: before the first start through the admin
    tool, else (a data directory from before authentication) through an unlocked start."""
    home = settings.home_path
    password = local_auth.new_password()
    (home / "conf" / "neo4j.conf").write_text(render_conf(settings), encoding="utf-8")
    if local_auth.has_system_database(home):
        echo("Setting a password on the local Neo4j (it ran without authentication until now)...")  # type: ignore[operator]
        _launch(settings, lib, auth=False)
        try:
            with create_driver(Neo4jSettings(uri=settings.bolt_uri)) as driver:
                local_auth.alter_password(driver, password)
        finally:
            stop(settings)
    else:
        local_auth.set_initial_password(home, lib, password, class_sharing_flags(settings))
    local_auth.write_secret(local_auth.password_path(home), password)


def reset_password(settings: LocalNeo4jSettings, *, echo: object = print) -> ServerStatus:
    """Give the local server a new password (it restarts), e.g. when its password file was lost."""
    stop(settings)
    local_auth.password_path(settings.home_path).unlink(missing_ok=True)
    return start(settings, echo=echo)


def _launch(settings: LocalNeo4jSettings, lib: Path, *, auth: bool) -> None:
    home = settings.home_path
    (home / "conf" / "neo4j.conf").write_text(render_conf(settings, auth=auth), encoding="utf-8")
    command = [
        "java",
        f"-Xms{settings.heap}",
        f"-Xmx{settings.heap}",
        *JVM_FLAGS,
        *class_sharing_flags(settings, record=True),
        "-cp",
        f"{lib}/*",
        ENTRY_POINT,
        f"--home-dir={home}",
        f"--config-dir={home / 'conf'}",
        "--console-mode",
    ]
    pid = _launch_detached(command, _console_log(settings), home)
    _pid_file(settings).write_text(str(pid), encoding="utf-8")
    _wait_until_ready(settings, local_auth.read_password(home) if auth else "")


def _launch_detached(command: list[str], log: Path, cwd: Path) -> int:
    """Start ``command`` as a daemon (its own session, parent gone) and return its pid.

    A shell backgrounds it and exits, so no child process object of ours outlives this call.
    """
    launcher = subprocess.run(
        ["sh", "-c", 'exec "$@" >>"$COSMO_LOG" 2>&1 </dev/null & echo $!', "sh", *command],
        env={**os.environ, "COSMO_LOG": str(log)},
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
        cwd=cwd,
    )
    return int(launcher.stdout.strip())


def _wait_until_ready(settings: LocalNeo4jSettings, password: str) -> None:
    deadline = time.monotonic() + settings.start_timeout
    client = Neo4jSettings(uri=settings.bolt_uri, password=password, connect_timeout=2.0)
    while time.monotonic() < deadline:
        if _alive_pid(settings) is None:
            _pid_file(settings).unlink(missing_ok=True)
            raise GraphError(
                f"Neo4j exited during start-up:\n{tail_log(settings, 15)}",
                hint=f"see {_console_log(settings)}",
            )
        try:
            create_driver(client).close()
            return
        except CredentialsError:
            raise GraphError(
                f"the local Neo4j in {settings.home_path} refuses the password in "
                f"{local_auth.password_path(settings.home_path)}",
                hint=local_auth.RESET_HINT,
            ) from None
        except GraphError:
            time.sleep(0.5)
    raise GraphError(
        f"Neo4j did not answer on {settings.bolt_uri} within {settings.start_timeout:.0f}s",
        hint=f"see {_console_log(settings)}; it may still be starting",
    )


def stop(settings: LocalNeo4jSettings, *, timeout: float = 90.0) -> bool:
    """Stop the local server cleanly (SIGTERM, then SIGKILL after ``timeout``). False if not running."""
    pid = _alive_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive_pid(settings) is not None:
        time.sleep(0.3)
    if _alive_pid(settings) is not None:
        os.kill(pid, signal.SIGKILL)
        drop_pending_archive(settings)
    else:
        keep_pending_archive(settings)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def tail_log(settings: LocalNeo4jSettings, lines: int = 50) -> str:
    """The last lines of the server's console log ('' before the first start)."""
    path = _console_log(settings)
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
