"""The end of a training run: the float16 adapter, the JSON report and the loss curve."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmo_kg.generation.local_model import SMOLLM2_NAME

if TYPE_CHECKING:
    from cosmo_kg.generation.tuning import TuneConfig, TuneReport, _Trainer

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def save_adapter(model: Any, directory: Path, base_name: str) -> int:
    """Write the LoRA weights as float16 safetensors plus peft's adapter config; returns bytes.

    ``base_model_name_or_path`` names the base model instead of this machine's cache path: the
    adapter is loaded onto whatever local copy of that model the user has.
    """
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    weights = {
        k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()
    }
    save_file(weights, str(staging / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = model.peft_config["default"].to_dict()
    config["base_model_name_or_path"] = base_name
    config = {k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}
    (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
    for written in staging.iterdir():
        written.chmod(0o644)  # safetensors writes owner-only files; an adapter is shipped data
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)
    return sum(f.stat().st_size for f in directory.iterdir())


def plot_losses(losses: list[float], path: Path, title: str) -> None:
    """Per-step loss and its running mean, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = max(1, len(losses) // 25)
    smooth = [
        sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
        for i in range(len(losses))
    ]
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(range(1, len(losses) + 1), losses, alpha=0.3, label="step loss")
    axes.plot(range(1, len(losses) + 1), smooth, label=f"mean of {window} steps")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("answer-token cross-entropy")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def finish(
    config: TuneConfig,
    trainer: _Trainer,
    state: dict[str, Any],
    examples: int,
    skipped: int,
    resumed: int,
    eval_loss: float | None,
) -> TuneReport:
    from cosmo_kg.generation.tuning import ADAPTER, CURVE, REPORT, TuneReport

    base = config.model or SMOLLM2_NAME
    size = save_adapter(trainer.model, config.out / ADAPTER, base)
    losses = [round(x, 4) for x in state["losses"]]
    s = config.settings
    steps = int(state["step"])
    report = TuneReport(
        base_model=base,
        adapter_dir=str(config.out / ADAPTER),
        adapter_bytes=size,
        examples=examples,
        skipped_too_long=skipped,
        steps=steps,
        planned_steps=int(state["planned_steps"]),
        resumed_from_step=resumed,
        epochs=round(steps * s.batch_size / max(examples, 1), 3),
        tokens=int(state["tokens"]),
        seconds=round(float(state["seconds"]), 1),
        tokens_per_second=round(state["tokens"] / max(float(state["seconds"]), 1e-9), 1),
        trainable_parameters=sum(p.numel() for p in trainer.params),
        first_loss=losses[0] if losses else float("nan"),
        final_loss=_tail_mean(losses),
        eval_loss=None if eval_loss is None else round(eval_loss, 4),
        eval_loss_before=None if state.get("eval_before") is None else round(state["eval_before"], 4),
        settings=asdict(s),
        losses=losses,
    )
    (config.out / REPORT).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if losses:
        plot_losses(losses, config.out / CURVE, f"LoRA r={s.rank} on {base}")
    return report


def _tail_mean(losses: list[float]) -> float:
    tail = losses[-max(1, len(losses) // 10) :]
    return round(sum(tail) / len(tail), 4) if tail else float("nan")
