"""``cosmo-kg generate`` as a user sees it, on paths that load no model."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.generation.llama_server import free_port

from .conftest import SampleInputs


def _generate(inputs: SampleInputs, out: Path, *options: str) -> tuple[int, str]:
    arguments = [
        "generate",
        "--pairs",
        str(inputs.pairs),
        "--products",
        str(inputs.products),
        "--out",
        str(out),
        "--workspace-dir",
        str(out.parent / "ws"),
        *options,
    ]
    result = CliRunner().invoke(cli, arguments)
    return result.exit_code, result.stderr


def test_help_explains_backends_and_resume() -> None:
    result = CliRunner().invoke(cli, ["generate", "--help"])
    assert result.exit_code == 0
    for words in (
        "transformers",
        "openai",
        "vllm",
        "resumable",
        "--generation-exemplars",
        "--openai-base-url",
    ):
        assert words in result.output


def test_bad_setting_is_reported_with_its_key(small_inputs: SampleInputs, tmp_path: Path) -> None:
    code, stderr = _generate(small_inputs, tmp_path / "out", "--generation-relations", "USED_FOR_FUN")
    assert code == 2
    assert stderr.startswith("Error: setting generation.relations has a bad value 'USED_FOR_FUN'")


def test_greedy_decoding_refuses_several_samples(small_inputs: SampleInputs, tmp_path: Path) -> None:
    code, stderr = _generate(small_inputs, tmp_path / "out", "--generation-samples", "3")
    assert code == 2 and "Hint: greedy decoding gives one continuation" in stderr


def test_unreachable_openai_server_is_retried_then_a_clear_error(
    small_inputs: SampleInputs, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    code, stderr = _generate(
        small_inputs,
        tmp_path / "out",
        "--backend",
        "openai",
        "--openai-base-url",
        url,
        "--openai-max-retries",
        "2",
        "--openai-backoff",
        "0.05",
    )
    assert code == 1
    first_line = stderr.splitlines()[0]
    assert first_line.startswith(f"Error: OpenAI-compatible server at {url} failed 3 times: Connect")
    assert "Hint: check that the server is running" in stderr
