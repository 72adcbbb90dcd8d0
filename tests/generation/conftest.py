"""Pairs and products for the generation tests, built from the real samples the package ships
(``cosmo_kg.samples.pairs``)."""

from __future__ import annotations

import pytest

from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.samples.pairs import SampleInputs, sample_pairs, write_inputs

__all__ = ["SampleInputs", "sample_pairs", "write_inputs"]


@pytest.fixture(scope="session")
def small_inputs(tmp_path_factory: pytest.TempPathFactory) -> SampleInputs:
    """Three co-buy and two search-buy pairs: enough for live model runs on 2 CPU cores."""
    pairs, products = sample_pairs(co_buy=3, search_buy=2)
    return write_inputs(tmp_path_factory.mktemp("inputs"), pairs, products)


def fast_settings(**changes: object) -> GenerationSettings:
    """Deterministic settings small enough for a live SmolLM2 run in tests."""
    base = {
        "backend": "transformers",
        "adapter": "none",
        "exemplars": 2,
        "max_new_tokens": 24,
        "batch_size": 8,
        "relations": "USED_FOR_EVE,xWANT",
        "threads": 1,
    }
    return GenerationSettings(**(base | changes))


def default_groups() -> tuple[OpenAISettings, VllmSettings]:
    return OpenAISettings(), VllmSettings()
