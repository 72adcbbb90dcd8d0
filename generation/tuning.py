"""``instruct train``: LoRA fine-tuning (peft + transformers) of a local causal LM on the
instruction data — COSMO-LM.

The loop is small on purpose: the step plan (which examples form which batch) is a pure
function of the data and the seed, so a run killed at any point resumes from its last
checkpoint (adapter, optimizer, scheduler, losses) and continues with the very next batch.
Only answer tokens are learned (the prompt is masked). The final adapter is written in
float16 with a report (JSON) and a loss curve (PNG) beside it.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cosmo_kg.errors import ConfigError, InputError
from cosmo_kg.generation.local_model import SMOLLM2_NAME, load_local_lm
from cosmo_kg.generation.tuning_data import collate, encode_all, read_examples, spread, step_plan
from cosmo_kg.settings import SettingsGroup, setting

CHECKPOINT = "checkpoint"
ADAPTER = "adapter"
REPORT = "training_report.json"
CURVE = "loss_curve.png"
STATE = "trainer_state.pt"
# Mostly knowledge generation in the run-time phrasing, a little of each judgement task: what two
# shared CPU cores train in about 40 minutes (~25-80 tokens/s measured, depending on the load).
CPU_MIX = "generation:900,plausibility:80,typicality:80,co_buy:80,search_relevance:80"


@dataclass(frozen=True)
class TuneSettings(SettingsGroup):
    section = "tune"

    rank: int = setting(16, "LoRA rank", env="COSMO_TUNE_RANK")
    alpha: int = setting(
        32, "LoRA scaling numerator (alpha / rank scales the update)", env="COSMO_TUNE_ALPHA"
    )
    dropout: float = setting(0.05, "dropout on the LoRA input", env="COSMO_TUNE_DROPOUT")
    target_modules: str = setting(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        "comma-separated linear layers that get a LoRA update",
        env="COSMO_TUNE_TARGET_MODULES",
    )
    top_layers: int = setting(
        12,
        "adapt only the last N transformer layers (0: all); the backward "
        "pass stops below them, which is most of the CPU cost",
        env="COSMO_TUNE_TOP_LAYERS",
    )
    tasks: str = setting(
        CPU_MIX,
        "tasks to train on, each TASK or TASK:MAX_EXAMPLES, comma-separated (empty: all examples of "
        "all five); the default is the mix the shipped adapter was trained on in a CPU budget",
        env="COSMO_TUNE_TASKS",
    )
    epochs: float = setting(1.0, "passes over the training data (fractions allowed)", env="COSMO_TUNE_EPOCHS")
    max_steps: int = setting(
        0, "stop after this many optimizer steps (0: epochs decide)", env="COSMO_TUNE_MAX_STEPS"
    )
    learning_rate: float = setting(
        1e-3, "peak learning rate (linear warm-up, then linear decay)", env="COSMO_TUNE_LEARNING_RATE"
    )
    batch_size: int = setting(8, "examples per optimizer step", env="COSMO_TUNE_BATCH_SIZE")
    max_length: int = setting(
        160, "longest example in tokens (longer ones are skipped and counted)", env="COSMO_TUNE_MAX_LENGTH"
    )
    checkpoint_every: int = setting(
        10, "steps between checkpoints (the unit of resume)", env="COSMO_TUNE_CHECKPOINT_EVERY"
    )
    eval_examples: int = setting(
        60, "held-out examples whose loss is reported at the end (0: none)", env="COSMO_TUNE_EVAL_EXAMPLES"
    )
    stop_after: int = setting(
        0,
        "end this session after this optimizer step and write the adapter and "
        "report (0: run to the end); running again without it continues the "
        "same schedule",
        env="COSMO_TUNE_STOP_AFTER",
    )
    threads: int = setting(0, "torch CPU threads (0: torch's default)", env="COSMO_TUNE_THREADS")
    device: str = setting("cpu", "torch device (cpu, cuda)", env="COSMO_TUNE_DEVICE")
    seed: int = setting(0, "seed of the step plan, LoRA init and dropout", env="COSMO_TUNE_SEED")

    def validate(self) -> None:
        for key in ("rank", "alpha", "batch_size", "max_length", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise self.bad_value(key, "use a positive number")
        for key, valid, hint in (
            ("epochs", self.epochs > 0, "use a positive number of passes"),
            ("learning_rate", self.learning_rate > 0, "use a positive learning rate"),
            ("dropout", 0 <= self.dropout < 1, "use 0 <= dropout < 1"),
        ):
            if not valid:
                raise self.bad_value(key, hint)


@dataclass(frozen=True)
class TuneConfig:
    """Train on ``data/train.jsonl`` (from ``instruct build``) into ``out``; ``model`` None = SmolLM2."""

    data: Path
    out: Path
    settings: TuneSettings
    model: str | None = None


@dataclass(frozen=True)
class TuneProgress:
    step: int
    steps: int
    loss: float
    tokens_per_second: float


@dataclass
class TuneReport:
    base_model: str
    adapter_dir: str
    adapter_bytes: int
    examples: int
    skipped_too_long: int
    steps: int
    planned_steps: int
    resumed_from_step: int
    epochs: float
    tokens: int
    seconds: float
    tokens_per_second: float
    trainable_parameters: int
    first_loss: float
    final_loss: float
    eval_loss: float | None
    eval_loss_before: float | None
    settings: dict[str, Any]
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lora_model(lm: Any, s: TuneSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    modules = [m.strip() for m in s.target_modules.split(",") if m.strip()]
    depth = lm.config.num_hidden_layers
    layers = list(range(max(0, depth - s.top_layers), depth)) if s.top_layers else None
    config = LoraConfig(
        r=s.rank,
        lora_alpha=s.alpha,
        lora_dropout=s.dropout,
        target_modules=modules,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft probes a renamed transformers property
        return get_peft_model(lm, config)


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy of the answer tokens, with the output layer applied to those positions
    only: the 49k-word vocabulary projection of every prompt token is most of a step's waste."""
    import torch

    causal = model.get_base_model()
    hidden = causal.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    chosen = targets != -100
    logits = causal.lm_head(hidden[:, :-1][chosen])
    return torch.nn.functional.cross_entropy(logits.float(), targets[chosen])


def _schedule(step: int, total: int) -> float:
    warmup = max(1, total // 30)
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


class _Trainer:
    """The model, optimizer and scheduler of one run, and their checkpoint."""

    def __init__(self, config: TuneConfig) -> None:
        import torch

        s = config.settings
        torch.manual_seed(s.seed)
        self.tokenizer, base = load_local_lm(config.model, device=s.device)
        self.model = _lora_model(base, s)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=s.learning_rate, weight_decay=0.0)
        self.scheduler: Any = None
        self.device = s.device

    def plan(self, total_steps: int) -> None:
        import torch

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda k: _schedule(k, total_steps)
        )

    def step(self, batch: dict[str, Any]) -> float:
        import torch

        self.model.train()
        loss = answer_loss(self.model, {k: v.to(self.device) for k, v in batch.items()})
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def mean_loss(self, encoded: list[tuple[list[int], int]], batch_size: int) -> float | None:
        import torch

        if not encoded:
            return None
        self.model.eval()
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                batch = collate(encoded[start : start + batch_size], self.tokenizer.pad_token_id)
                answer_tokens = int((batch["labels"][:, 1:] != -100).sum())
                loss = answer_loss(self.model, {k: v.to(self.device) for k, v in batch.items()})
                total, count = total + float(loss) * answer_tokens, count + answer_tokens
        return total / max(count, 1)

    def save(self, directory: Path, state: dict[str, Any]) -> None:
        """Write a checkpoint atomically: a killed save leaves the previous one intact."""
        import torch

        staging = directory.with_name(directory.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        self.model.save_pretrained(staging)
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                **state,
            },
            staging / STATE,
        )
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    def restore(self, directory: Path) -> dict[str, Any]:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(self.model, load_file(str(directory / "adapter_model.safetensors")))
        state = torch.load(directory / STATE, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        return dict(state)


# Settings that change when or how fast a run works, never what it learns.
SESSION_ONLY = ("stop_after", "threads", "checkpoint_every", "eval_examples", "device")


def _identity(pinned: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": pinned["model"],
        "settings": {k: v for k, v in pinned["settings"].items() if k not in SESSION_ONLY},
    }


def _check_out(out: Path, settings: TuneSettings, model: str | None) -> dict[str, Any]:
    """The run's identity, pinned in ``out/run.json``: resuming with other settings is refused."""
    identity = {"settings": asdict(settings), "model": model or SMOLLM2_NAME}
    pinned = out / "run.json"
    if pinned.exists():
        found = json.loads(pinned.read_text(encoding="utf-8"))
        if _identity(found) != _identity(identity):
            raise ConfigError(
                f"{out} holds a training run with other settings",
                hint="use a new --out directory, or the same settings to resume",
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        pinned.write_text(json.dumps(identity, indent=2), encoding="utf-8")
    return identity


def train(config: TuneConfig, *, progress: Callable[[TuneProgress], None] | None = None) -> TuneReport:
    """Fine-tune a LoRA adapter; resume from ``out/checkpoint`` when a killed run left one.

    Returns:
        The training report (also written to ``out/training_report.json`` with ``loss_curve.png``);
        the adapter is in ``out/adapter``.

    Raises:
        InputError: no training data. ConfigError: bad settings, or ``out`` holds another run.
    """
    from cosmo_kg.generation.tuning_report import finish

    s = config.settings
    s.validate()
    if s.threads:
        import torch

        torch.set_num_threads(s.threads)
    _check_out(config.out, s, config.model)
    rows = read_examples(config.data / "train.jsonl", s.tasks)
    trainer = _Trainer(config)
    encoded, skipped = encode_all(trainer.tokenizer, rows, s.max_length)
    if not encoded:
        raise InputError(
            f"no training example of {config.data} fits in {s.max_length} tokens",
            hint="raise --tune-max-length",
        )
    plan = step_plan([len(ids) for ids, _ in encoded], s.batch_size, s.epochs, s.seed)
    if s.max_steps:
        plan = plan[: s.max_steps]
    trainer.plan(len(plan))
    held_out = encode_all(
        trainer.tokenizer,
        spread(read_examples(config.data / "eval.jsonl", s.tasks), s.eval_examples),
        s.max_length,
    )[0]
    checkpoint = config.out / CHECKPOINT
    state: dict[str, Any] = {"step": 0, "losses": [], "tokens": 0, "seconds": 0.0, "eval_before": None}
    if (checkpoint / STATE).is_file():
        state = trainer.restore(checkpoint)
    else:
        state["eval_before"] = trainer.mean_loss(held_out, s.batch_size)
    resumed = state["step"]
    started, tokens_here = time.perf_counter(), 0
    last = min(len(plan), s.stop_after) if s.stop_after else len(plan)
    for step in range(resumed, last):
        batch = [encoded[i] for i in plan[step]]
        state["losses"].append(trainer.step(collate(batch, trainer.tokenizer.pad_token_id)))
        tokens_here += sum(len(ids) for ids, _ in batch)
        state["step"] = step + 1
        elapsed = time.perf_counter() - started
        if progress is not None:
            progress(TuneProgress(step + 1, len(plan), state["losses"][-1], tokens_here / max(elapsed, 1e-9)))
        if state["step"] % s.checkpoint_every == 0 or state["step"] == last:
            trainer.save(
                checkpoint,
                state | {"tokens": state["tokens"] + tokens_here, "seconds": state["seconds"] + elapsed},
            )
    state["tokens"] += tokens_here
    state["seconds"] += time.perf_counter() - started
    state["planned_steps"] = len(plan)
    return finish(
        config, trainer, state, len(encoded), skipped, resumed, trainer.mean_loss(held_out, s.batch_size)
    )
