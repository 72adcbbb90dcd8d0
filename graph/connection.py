"""How every part of cosmo-kg reaches Neo4j: one settings group, one driver factory.

The same settings work for the local server (``bolt://127.0.0.1:7687``), a remote server or
a cluster (``neo4j://`` routing, ``neo4j+s://`` for Aura). Every session names the database
(``session_database``); writers open write sessions, which a cluster routes to the database's
leader, and readers read sessions, which it routes to followers and read replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import neo4j
from neo4j.exceptions import AuthError, ConfigurationError, DriverError, Neo4jError, ServiceUnavailable

from cosmo_kg.errors import ConfigError, GraphError
from cosmo_kg.settings import SettingsGroup, setting

DATABASE_HINT = (
    "set NEO4J_DATABASE to a database the server has (`SHOW DATABASES`), "
    "or leave it empty for the server's default database"
)
UNREACHABLE_HINT = "start the local server with `cosmo-kg neo4j start`, or point NEO4J_URI at a running Neo4j"
DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
FAILED_HINT = "see `cosmo-kg neo4j status` and `cosmo-kg neo4j logs`; a killed load resumes when run again"


@dataclass(frozen=True)
class Neo4jSettings(SettingsGroup):
    section = "neo4j"

    uri: str = setting(
        "bolt://127.0.0.1:7687", "Neo4j URI (bolt:// one server, neo4j:// routing)", env="NEO4J_URI"
    )
    user: str = setting("neo4j", "Neo4j user name", env="NEO4J_USER")
    password: str = setting(
        "",
        "Neo4j password; empty: the local server's own password for its "
        "Bolt port (`cosmo-kg neo4j password`), else no authentication",
        env="NEO4J_PASSWORD",
        secret=True,
    )
    database: str = setting(
        "",
        "database every session reads and writes; empty: the server's default database "
        "(`neo4j` unless the server says otherwise, or the user's home database)",
        env="NEO4J_DATABASE",
    )
    connect_timeout: float = setting(
        5.0, "seconds to wait for a connection", env="COSMO_NEO4J_CONNECT_TIMEOUT"
    )

    def validate(self) -> None:
        if not self.uri.startswith(
            ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
        ):
            raise self.bad_value("uri", "use bolt://HOST:PORT or neo4j://HOST:PORT")


def session_database(name: str | None) -> str | None:
    """The driver's ``database`` argument for a configured name: ``None`` (the server's default
    database) for an empty one, which the driver would otherwise take for a database named ""."""
    return name or None


class CredentialsError(GraphError):
    """Neo4j refused the user name or password."""


def credentials(settings: Neo4jSettings) -> tuple[str, str] | None:
    """The (user, password) to send: NEO4J_PASSWORD if set, else the local server's own
    password when the URI is its Bolt port, else none (a server without authentication)."""
    from cosmo_kg.graph.local_auth import password_for_uri

    password = settings.password or password_for_uri(settings.uri)
    return (settings.user, password) if password else None


def create_driver(settings: Neo4jSettings) -> neo4j.Driver:
    """Open a driver and check that the server answers; raise ``GraphError`` with a fix if not."""
    auth = credentials(settings)
    try:
        driver = neo4j.GraphDatabase.driver(
            settings.uri,
            auth=auth,
            connection_timeout=settings.connect_timeout,
            max_transaction_retry_time=30.0,
            notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
        )
    except (ConfigurationError, ValueError) as exc:
        raise ConfigError(f"cannot use NEO4J_URI {settings.uri!r}: {exc}") from exc
    try:
        driver.verify_connectivity()
    except AuthError as exc:
        driver.close()
        raise CredentialsError(
            f"Neo4j at {settings.uri} refused the credentials",
            hint="check NEO4J_USER / NEO4J_PASSWORD; the local server's password: `cosmo-kg neo4j password`",
        ) from exc
    except (ServiceUnavailable, OSError, Neo4jError) as exc:
        driver.close()
        raise GraphError(f"Neo4j is not reachable at {settings.uri}", hint=UNREACHABLE_HINT) from exc
    return driver


@contextmanager
def graph_errors(action: str, hint: str = FAILED_HINT) -> Iterator[None]:
    """Neo4j failing after the connection was made (a refused write, a lost server) becomes
    ``GraphError`` naming ``action`` and Neo4j's own reason."""
    try:
        yield
    except (Neo4jError, DriverError) as exc:
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if getattr(exc, "code", None) == DATABASE_NOT_FOUND:
            hint = DATABASE_HINT
        raise GraphError(f"{action} failed: {reason}", hint=hint) from exc


@contextmanager
def connect(settings: Neo4jSettings) -> Iterator[neo4j.Driver]:
    """``with connect(settings) as driver:`` — a checked driver, closed afterwards; driver errors
    inside the block become ``GraphError``."""
    driver = create_driver(settings)
    try:
        with graph_errors(f"Neo4j at {settings.uri}"):
            yield driver
    finally:
        driver.close()
