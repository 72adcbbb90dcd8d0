"""The error tree. Every error a user can cause says what happened and what to do next.

The CLI prints ``Error: <message>`` (and the hint) and exits non-zero; the API maps the
class to one error shape.
"""


class CosmoKGError(Exception):
    """Base of every error cosmo-kg raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CosmoKGError):
    """A setting has a bad value, or a required tool (Java, Maven) is missing."""

    exit_code = 2


class InputError(CosmoKGError):
    """An input file is missing, unreadable or not what it claims to be."""

    exit_code = 2


class BackendError(CosmoKGError):
    """A model backend failed (server down, model missing, malformed output)."""


class GraphError(CosmoKGError):
    """Neo4j is unreachable, refused a query or the local server failed."""

    exit_code = 3
