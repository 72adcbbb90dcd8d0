"""``cosmo-kg serve`` with every blocking call back on the event loop and the embedding model in
the API process: the naive way that ``bench_writes.py mixed`` compares against (an unseen
query's embedding stalls every request)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from cosmo_kg.api import offload

T = TypeVar("T")


class InlineOffload(offload.Offload):
    async def io(self, call: Callable[..., T], *args: Any) -> T:
        return call(*args)

    async def compute(self, call: Callable[..., T], *args: Any) -> T:
        return call(*args)


offload.Offload = InlineOffload  # type: ignore[misc]  # before cosmo_kg.api.services imports it

if __name__ == "__main__":
    import os

    from cosmo_kg.cli import main

    os.environ["COSMO_API_EMBED_PROCESS"] = "false"

    sys.argv = ["cosmo-kg", "serve"]
    main()
