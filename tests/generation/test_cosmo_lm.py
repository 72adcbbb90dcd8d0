"""The shipped COSMO-LM adapter: both CPU backends load it (llama.cpp through a merged GGUF),
it changes what the model writes, and candidates record it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.generation.backend import BackendSettings, create_backend, model_label
from cosmo_kg.generation.cosmo_lm import adapter_label, resolve_adapter, shipped_adapter_dir
from cosmo_kg.generation.gguf_merge import permute_rows
from cosmo_kg.generation.prompts import PairContext, load_library
from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.vocabulary import BehaviorKind

PAIRS = (
    PairContext(
        "a",
        BehaviorKind.CO_BUY,
        "Coleman Sundome 4-Person Dome Tent",
        title_b="Coleman Sleeping Bag for Adults",
    ),
    PairContext("b", BehaviorKind.SEARCH_BUY, "LED Desk Lamp with USB Charging Port", query="desk lamp"),
)


def _texts(backend: str, adapter: str) -> tuple[str, list[str]]:
    settings = GenerationSettings(backend=backend, adapter=adapter, max_new_tokens=16, threads=1)
    model = create_backend(BackendSettings(settings, OpenAISettings(), VllmSettings()))
    try:
        prompts = [load_library().get(p.kind, "CAPABLE_OF").render(p, exemplars=0) for p in PAIRS]
        return model.model_name, [c.texts[0] for c in model.generate(prompts)]
    finally:
        model.close()


def test_shipped_adapter_is_small_and_the_default_for_the_bundled_model() -> None:
    directory = shipped_adapter_dir()
    assert sum(f.stat().st_size for f in directory.iterdir()) <= 20_000_000
    assert resolve_adapter("default", "") == directory
    assert resolve_adapter("default", "/some/other/model") is None
    assert resolve_adapter("none", "") is None
    assert model_label(GenerationSettings()) == "SmolLM2-135M-Instruct" + adapter_label(directory)
    assert model_label(GenerationSettings(adapter="none")) == "SmolLM2-135M-Instruct"


def test_tuned_prompts_have_no_worked_examples_and_the_base_keeps_three() -> None:
    assert GenerationSettings().exemplar_count() == 0
    assert GenerationSettings(adapter="none").exemplar_count() == 3
    assert GenerationSettings(exemplars=1).exemplar_count() == 1


def test_permutation_matches_llama_cpp_converter() -> None:
    weights = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)  # 2 heads x head dim 4
    permuted = permute_rows(weights, heads=2)
    # per head, rows (0, 1, 2, 3) are stored as (0, 2, 1, 3): the halves are interleaved
    assert permuted[:, 0].tolist() == [0, 6, 3, 9, 12, 18, 15, 21]


def test_bad_adapter_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--pairs",
            str(tmp_path / "p"),
            "--products",
            str(tmp_path / "q"),
            "--out",
            str(tmp_path / "o"),
            "--generation-adapter",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["llama_cpp", "transformers"])
def test_shipped_adapter_loads_in_both_cpu_backends_and_changes_the_output(backend: str) -> None:
    base_name, base = _texts(backend, "none")
    tuned_name, tuned = _texts(backend, "default")
    assert base_name == "SmolLM2-135M-Instruct" and tuned_name.startswith(
        "SmolLM2-135M-Instruct+smollm2-cosmo@"
    )
    assert all(text.strip() for text in tuned)
    assert tuned != base
