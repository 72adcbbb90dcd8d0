"""Prompt tokens of a generate run, counted with the model's own tokenizer (the same ids both
CPU backends read), so that a benchmark reports prompt and generated tokens per second apart."""

from __future__ import annotations

from typing import Any

import polars as pl

from cosmo_kg.generation.prompts import PairContext, load_library
from cosmo_kg.generation.settings import GenerationSettings
from cosmo_kg.vocabulary import BehaviorKind, relations_for


def prompt_tokens(settings: GenerationSettings, inputs: Any) -> int:
    from transformers import AutoTokenizer

    from cosmo_kg.generation.local_model import resolve_model_dir

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(None))
    titles = dict(pl.read_parquet(inputs.products).select("product_id", "title").iter_rows())
    library, chosen, total = load_library(), set(settings.relation_names()), 0
    for row in pl.read_parquet(inputs.pairs).iter_rows(named=True):
        kind = BehaviorKind(row["kind"])
        pair = PairContext(
            row["behavior_id"],
            kind,
            titles[row["product_id"]],
            query=row["query"],
            title_b=titles.get(row["product_id_b"]),
        )
        for relation in relations_for(kind):
            if chosen and relation.name not in chosen:
                continue
            prompt = library.get(kind, relation.name).render(
                pair, exemplars=settings.exemplar_count(), seed=settings.seed
            )
            text = (
                tokenizer.apply_chat_template(
                    list(prompt.messages), tokenize=False, add_generation_prompt=True
                )
                + prompt.prefill
            )
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return total
