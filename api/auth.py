"""API keys for the endpoints that write (refresh trigger, cache admin).

Keys are random 256-bit tokens shown once at creation; only their SHA-256 is stored (a fast
hash is enough for high-entropy tokens, unlike passwords). Requests send
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cosmo_kg.errors import ConfigError, CosmoKGError

HASH_PREFIX = "sha256:"
KEY_PREFIX = "ckg_"


class AuthError(CosmoKGError):
    """The request lacks a valid API key."""


def hash_key(key: str) -> str:
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    name: str
    hash: str
    created_at: str


def read_keys(path: Path) -> list[StoredKey]:
    if not path.exists():
        return []
    try:
        return [StoredKey(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"API keys file {path} is not valid", hint="recreate it with cosmo-kg apikey create"
        ) from exc


def create_key(path: Path, name: str) -> str:
    """Generate a key, store its hash under ``name`` and return the key (shown once)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    keys = [k for k in read_keys(path) if k.name != name]
    keys.append(StoredKey(name, hash_key(key), datetime.now(UTC).isoformat(timespec="seconds")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([k.__dict__ for k in keys], indent=2), encoding="utf-8")
    path.chmod(0o600)
    return key


class KeyRing:
    """The accepted key hashes; ``check`` compares in constant time."""

    def __init__(self, hashes: set[str]) -> None:
        for value in hashes:
            if not value.startswith(HASH_PREFIX):
                raise ConfigError(
                    f"API key hash {value[:16]}... does not start with {HASH_PREFIX}",
                    hint="store hashes as written by cosmo-kg apikey create",
                )
        self.hashes = hashes

    @classmethod
    def load(cls, keys_file: Path, extra: str = "") -> KeyRing:
        hashes = {k.hash for k in read_keys(keys_file)}
        hashes.update(h.strip() for h in extra.split(",") if h.strip())
        return cls(hashes)

    def check(self, presented: str | None) -> None:
        if not self.hashes:
            raise AuthError(
                "writes are disabled: no API key is configured",
                hint="create one with `cosmo-kg apikey create NAME`",
            )
        if not presented:
            raise AuthError("this endpoint needs an API key", hint="send Authorization: Bearer <key>")
        digest = hash_key(presented)
        if not any(hmac.compare_digest(digest, h) for h in self.hashes):
            raise AuthError("the API key is not valid")
