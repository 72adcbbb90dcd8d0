"""The password of the local Neo4j: generated once, kept in the server's data directory.

The local server runs with authentication on. Its password is generated on the first start,
written to ``<home>/password`` with mode 0600 and given to Neo4j before the system database
exists (``neo4j-admin dbms set-initial-password``), so the server never runs unlocked. A
data directory from before authentication (a system database but no password file) is
migrated once: the server starts with authentication off on loopback, the password is set
with ``ALTER USER``, and the server restarts locked.

Clients never need to know the file: a connection without ``NEO4J_PASSWORD`` to the local
server's Bolt port reads it (``password_for_uri``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import neo4j

from cosmo_kg.errors import GraphError
from cosmo_kg.files import write_atomic

ADMIN_TOOL = "org.neo4j.cli.AdminTool"
USER = "neo4j"
PASSWORD_FILE = "password"
SET_PASSWORD = "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED"
RESET_HINT = "run `cosmo-kg neo4j password --reset` (restarts the local server with a new password)"


def password_path(home: Path) -> Path:
    return home / PASSWORD_FILE


def read_password(home: Path) -> str:
    """The local server's password, or '' when it has none yet."""
    try:
        return password_path(home).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (mode 0600)."""

    def write(draft: Path) -> None:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")

    write_atomic(path, write)


def has_system_database(home: Path) -> bool:
    """Whether the server in ``home`` has started before (its users live in the system database)."""
    return (home / "data" / "databases" / "system").is_dir()


def set_initial_password(home: Path, lib: Path, password: str, java_flags: list[str]) -> None:
    """Give a server that never started its first password (the admin tool writes
    ``data/dbms/auth.ini``; the first start moves it into the system database)."""
    # The password goes through an argument file, never the command line (visible in ps); "--"
    # ends the options, so a password starting with "-" is not read as one.
    arguments = home / "run" / "set-initial-password.args"
    write_secret(arguments, '--\n"' + password + '"')
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    try:
        result = subprocess.run(
            [
                "java",
                *java_flags,
                "-cp",
                f"{lib}/*",
                ADMIN_TOOL,
                "dbms",
                "set-initial-password",
                f"@{arguments}",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        arguments.unlink(missing_ok=True)
    if result.returncode != 0:
        raise GraphError(
            f"neo4j-admin could not set the local server's password: "
            f"{(result.stdout + result.stderr).strip()[-600:]}"
        )


def alter_password(driver: neo4j.Driver, password: str) -> None:
    """Set the admin user's password through a server running without authentication."""
    with driver.session(database="system") as session:
        session.run(SET_PASSWORD, password=password).consume()


def is_loopback_port(uri: str, port: int) -> bool:
    """Whether ``uri`` names ``port`` on this machine's loopback interface."""
    parts = urlsplit(uri)
    try:
        return parts.hostname in {"127.0.0.1", "localhost", "::1"} and parts.port == port
    except ValueError:
        return False


def password_for_uri(uri: str) -> str:
    """The local server's password when ``uri`` is its Bolt port (settings from the
    environment and config file), else ''."""
    from cosmo_kg.graph.server import LocalNeo4jSettings
    from cosmo_kg.settings import load_settings

    local = load_settings(LocalNeo4jSettings)
    if not is_loopback_port(uri, local.bolt_port):
        return ""
    return read_password(local.home_path)
