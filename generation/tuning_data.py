"""The training data side of ``instruct train``: which examples, how they are tokenised (answer
tokens only are learned), and the step plan — a pure function of the data and the seed, which is
what lets a killed run resume with the very next batch."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from cosmo_kg.errors import ConfigError, InputError


def parse_task_limits(value: str) -> dict[str, int]:
    """``"generation,plausibility:200"`` -> {"generation": 0, "plausibility": 200} (0: no cap)."""
    limits = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        task, _, count = item.partition(":")
        if not count.strip().isdigit() and count:
            raise ConfigError(f"setting tune.tasks has a bad item {item!r}", hint="use TASK or TASK:COUNT")
        limits[task.strip()] = int(count or 0)
    return limits


def read_examples(path: Path, task_limits: str = "") -> list[list[dict[str, str]]]:
    """The chat ``messages`` of a JSONL file written by ``instruct build``, of the tasks named in
    ``task_limits`` (all when empty), at most COUNT per task: the run-time phrasing (template 0)
    first, then pairs spread evenly over the file."""
    if not path.is_file():
        raise InputError(
            f"{path}: no such file", hint="build the data first: cosmo-kg instruct build --out DIR"
        )
    limits = parse_task_limits(task_limits)
    by_task: dict[str, list[tuple[int, list[dict[str, str]]]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            task, template, messages = (
                record.get("task", ""),
                int(record.get("template", 0)),
                record["messages"],
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InputError(
                f"{path}:{number}: not an instruction record with `messages`",
                hint="rebuild it with cosmo-kg instruct build",
            ) from None
        if not limits or task in limits:
            by_task.setdefault(task, []).append((template, messages))
    rows = []
    for task, items in by_task.items():
        cap = limits.get(task, 0)
        if cap and len(items) > cap:
            ordered = sorted(range(len(items)), key=lambda i: items[i][0])  # stable: file order within
            items = [items[i] for i in sorted(ordered[:cap])]
        rows += [messages for _, messages in items]
    return rows


def encode(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], int]:
    """Token ids of prompt + answer + end of turn, and where the answer starts."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    answer = messages[-1]["content"] + tokenizer.eos_token
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, len(prompt_ids)


def step_plan(lengths: list[int], batch_size: int, epochs: float, seed: int) -> list[list[int]]:
    """Batches of example indices for the whole run: each epoch shuffled, examples of similar
    length batched together (less padding), batch order shuffled again. Pure in its inputs."""
    plan: list[list[int]] = []
    for epoch in range(math.ceil(epochs)):
        rng = random.Random(seed * 1000 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        batches: list[list[int]] = []
        window = batch_size * 32
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        plan += batches
    return plan[: max(1, round(len(plan) * epochs / math.ceil(epochs)))]


def collate(encoded: list[tuple[list[int], int]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, answer_start) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, answer_start : len(ids)] = torch.tensor(ids[answer_start:])
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def encode_all(
    tokenizer: Any, rows: list[list[dict[str, str]]], max_length: int
) -> tuple[list[tuple[list[int], int]], int]:
    encoded = [encode(tokenizer, messages) for messages in rows]
    kept = [e for e in encoded if len(e[0]) <= max_length and e[1] < len(e[0])]
    return kept, len(encoded) - len(kept)


def spread(rows: list[Any], count: int) -> list[Any]:
    if len(rows) <= count:
        return rows
    return [rows[int(i * len(rows) / count)] for i in range(count)]
