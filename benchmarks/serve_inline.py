"""``cosmo-kg serve`` with every blocking call back on the event loop: the naive way that
``bench_writes.py mixed`` compares against (an unseen query's embedding stalls every request)."""

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
    from cosmo_kg.cli import main

    sys.argv = ["cosmo-kg", "serve"]
    main()
