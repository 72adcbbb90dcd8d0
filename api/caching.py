"""Cache maintenance: preload tier 1 with the frequent queries, drain the miss queue into tier 2."""

from __future__ import annotations

from cosmo_kg.api import statements
from cosmo_kg.api.services import Services


async def top_queries(svc: Services, top: int) -> list[str]:
    """The ``top`` most purchased-after (then most explained) queries of the graph."""
    return [row["key"] for row in await svc.reader.rows(statements.TOP_QUERIES, limit=top)]


async def preload_tier1(svc: Services, top: int) -> int:
    """Compute the answers of the ``top`` frequent queries into tier 1; return how many."""
    return await svc.answers.fill(await top_queries(svc, top), "tier1")


async def drain_queue(svc: Services, limit: int | None = None) -> tuple[int, int]:
    """Answer the queued misses into tier 2, then take them off the queue (in that order, so a
    run killed in between only answers them again). Returns (drained, written)."""
    queued = [item for item, _ in await svc.offload.io(svc.store.queued, limit)]
    written = await svc.answers.fill(queued, "tier2")
    await svc.offload.io(svc.store.dequeue, queued)
    return len(queued), written
