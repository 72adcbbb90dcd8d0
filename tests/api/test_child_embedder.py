"""The API embeds unseen queries in a child process at a lower CPU priority: the same vectors as
in process, a killed child replaced, and a served app answering through it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.offload import ChildEmbedder
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.graph.connection import Neo4jSettings
from tests.api.test_freshness import own_settings

TEXTS = ["a quiet office chair", "camping with a dog", "gift for a new home"]


@pytest.fixture(scope="module")
def child() -> Iterator[ChildEmbedder]:
    embedder = ChildEmbedder(EmbeddingSettings(), nice=5)
    yield embedder
    embedder.close()


def test_the_child_process_embeds_like_the_model_in_process(
    child: ChildEmbedder, embedder: TextEmbedder
) -> None:
    assert (child.model_name, child.dimension) == (embedder.model_name, embedder.dimension)
    np.testing.assert_allclose(child.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)


def test_the_child_process_runs_at_a_lower_priority(child: ChildEmbedder) -> None:
    pid = child.pid()
    assert pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)


def test_a_killed_child_process_is_replaced_on_the_next_call(child: ChildEmbedder) -> None:
    first = child.pid()
    os.kill(first, signal.SIGKILL)
    time.sleep(0.5)
    assert child.embed(TEXTS[:1]).shape == (1, child.dimension)
    assert child.pid() != first


@pytest.mark.neo4j
def test_the_served_app_answers_unseen_queries_through_its_child_process(
    neo4j_settings: Neo4jSettings, tmp_path: Path, settings: ServeSettings, built_index: Path
) -> None:
    own = own_settings(neo4j_settings, tmp_path, settings)
    with TestClient(create_app(own)) as client:
        svc = client.app.state.services  # type: ignore[attr-defined]
        assert isinstance(svc.embedder, ChildEmbedder)
        body = client.get("/v1/intentions", params={"query": "keeping my puppy warm outside"}).json()
        assert body["source"] == "semantic" and body["intentions"]
