"""COSMO-LM adapters: which LoRA adapter a run uses, what candidates record about it, and the
two ways the CPU backends apply it (merged into the transformers weights; merged into a GGUF
copy of the base model for llama.cpp).

The adapter shipped in the package (``adapters/smollm2-cosmo``) was trained with
``cosmo-kg instruct train`` for the bundled SmolLM2-135M-Instruct; it is the default for that
model. ``none`` generates with the base model.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.generation.local_model import smollm2_gguf_path
from cosmo_kg.workspace import machine_cache_dir

SHIPPED_ADAPTER = "smollm2-cosmo"
DEFAULT, NONE = "default", "none"
MERGE_FORMAT = "q8"  # bump when gguf_merge writes tensors differently: cached merges are rebuilt
# HF module -> llama.cpp tensor name (the llama architecture's names in gguf.constants).
GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def shipped_adapter_dir() -> Path:
    return Path(str(resources.files("cosmo_kg.generation").joinpath("adapters", SHIPPED_ADAPTER)))


def resolve_adapter(value: str, model: str) -> Path | None:
    """The adapter directory a run uses: ``default`` = the shipped one for the bundled model
    (none for another model), ``none`` = no adapter, else a peft adapter directory.

    Raises:
        ConfigError: the directory holds no peft adapter.
    """
    if value == NONE or (value == DEFAULT and model):
        return None
    path = shipped_adapter_dir() if value == DEFAULT else Path(value).expanduser()
    if not (path / "adapter_config.json").is_file() or not (path / "adapter_model.safetensors").is_file():
        raise ConfigError(
            f"adapter {value!r} is not a peft LoRA adapter directory ({path})",
            hint="pass a directory written by `cosmo-kg instruct train` (its adapter/), "
            "or --generation-adapter none for the base model",
        )
    return path


def adapter_digest(adapter: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    return digest.hexdigest()[:8]


def adapter_label(adapter: Path | None) -> str:
    """What candidates record after the model name: ``+<adapter name>@<digest>`` or nothing."""
    if adapter is None:
        return ""
    return f"+{adapter.name}@{adapter_digest(adapter)}"


def apply_adapter(lm: Any, adapter: Path) -> Any:
    """The transformers model with the LoRA update merged into its weights (no LoRA overhead
    at generation time)."""
    from peft import PeftModel

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft probes a renamed transformers property
            return PeftModel.from_pretrained(lm, str(adapter)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BackendError(
            f"cannot apply adapter {adapter}: {exc}",
            hint="was it trained for this base model? use --generation-adapter none",
        ) from exc


def lora_deltas(adapter: Path) -> dict[str, Any]:
    """``scale * B @ A`` per adapted weight, keyed by the HF module name (``model.layers.N....``)."""
    import torch
    from safetensors.torch import load_file

    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    scale = config["lora_alpha"] / config["r"]
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    deltas = {}
    for key, a in weights.items():
        if ".lora_A." not in key:
            continue
        b = weights[key.replace(".lora_A.", ".lora_B.")]
        module = key.split(".lora_A.")[0].removeprefix("base_model.model.")
        deltas[module] = (b.to(torch.float32) @ a.to(torch.float32)) * scale
    return deltas


def _gguf_name(module: str) -> str:
    parts = module.split(".")  # model.layers.N.self_attn.q_proj
    return f"blk.{parts[2]}.{GGUF_NAMES['.'.join(parts[3:])]}.weight"


def merged_gguf(adapter: Path, base: Path | None = None) -> Path:
    """A GGUF copy of the base model with the adapter merged in, made once per adapter and kept
    in the machine cache. Written under a temporary name and renamed, so a killed conversion is
    never trusted.
    """
    from cosmo_kg.generation.gguf_merge import write_merged

    source = base or smollm2_gguf_path()
    label = adapter_label(adapter).replace("@", "-")
    target = machine_cache_dir() / "models" / f"{source.stem}{label}-{MERGE_FORMAT}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    deltas = {_gguf_name(module): delta for module, delta in lora_deltas(adapter).items()}
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}-", delete=False) as handle:
        staging = Path(handle.name)
    try:
        write_merged(source, staging, deltas)
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return target
