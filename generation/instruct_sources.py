"""Where COSMO-LM's instruction examples come from: the bundled human-judged samples turned into
examples of the five tasks (see ``instruct_data``), each tied to its behaviour pair."""

from __future__ import annotations

import hashlib
import html
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from cosmo_kg.generation import instruct_templates as templates
from cosmo_kg.generation.prompts import PairContext, load_library
from cosmo_kg.refinement.annotations import pair_behavior_id
from cosmo_kg.refinement.clauses import content_of
from cosmo_kg.samples.pairs import SAMPLES
from cosmo_kg.vocabulary import BehaviorKind


@dataclass(frozen=True)
class Example:
    """One instruction example: a pair, a task, a phrasing, the prompt and the answer."""

    task: str
    template: int
    behavior_id: str
    kind: str
    relation: str
    domain: str
    source: str
    label: str
    messages: tuple[dict[str, str], ...]

    @property
    def example_id(self) -> str:
        text = json.dumps([self.task, self.template, self.behavior_id, self.messages], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self, split: str) -> dict[str, Any]:
        prompt = [m for m in self.messages if m["role"] != "assistant"]
        system = next((m["content"] for m in prompt if m["role"] == "system"), "")
        user = "\n".join(m["content"] for m in prompt if m["role"] == "user")
        return {
            "id": self.example_id,
            "split": split,
            "task": self.task,
            "template": self.template,
            "behavior_id": self.behavior_id,
            "kind": self.kind,
            "relation": self.relation,
            "domain": self.domain,
            "source": self.source,
            "label": self.label,
            "messages": list(self.messages),
            "instruction": system,
            "input": user,
            "output": self.messages[-1]["content"],
        }


def read_sample(name: str) -> pl.DataFrame:
    return pl.read_parquet(SAMPLES.joinpath(name).read_bytes())


def _pick(key: str, count: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest()) % count


def _unescape(text: str | None) -> str | None:
    return html.unescape(text) if text else text


# -- sources ---------------------------------------------------------------------------------------


def gold_tails(max_tails: int) -> pl.DataFrame:
    """Typical tails per (co-buy pair, relation): IntentionQA human-judged (typicality >= 0.6)
    first, then FolkScope assertions judged plausible (silver)."""
    products = read_sample("intentionqa_products.parquet").select("product_id", "title", "domain")
    gold = read_sample("intentionqa_knowledge.parquet").select(
        "product_id", "product_id_b", "relation", "tail", "typicality", pl.lit("intentionqa").alias("source")
    )
    silver = (
        read_sample("critic/annotations.parquet")
        .filter(
            (pl.col("source") == "folkscope")
            & (pl.col("plausibility") >= 0.5)
            & pl.col("relation").is_not_null()
        )
        .select(
            "product_id",
            "product_id_b",
            "relation",
            pl.col("statement").map_elements(content_of, return_dtype=pl.String).alias("tail"),
            pl.lit(0.5).alias("typicality"),
            pl.lit("folkscope").alias("source"),
        )
    )
    titles = (
        read_sample("critic/annotations.parquet")
        .filter(pl.col("kind") == BehaviorKind.CO_BUY.value)
        .select("product_id", "product_id_b", "title", "title_b", "domain")
        .unique(["product_id", "product_id_b"])
    )
    frame = (
        pl.concat([gold, silver])
        .join(titles, on=["product_id", "product_id_b"], how="left")
        .join(
            products.rename(
                {"product_id": "product_id_b", "title": "title_b_fallback", "domain": "domain_b"}
            ),
            on="product_id_b",
            how="left",
        )
        .join(products.rename({"title": "title_fallback"}), on="product_id", how="left", suffix="_a")
    )
    frame = frame.with_columns(
        title=pl.coalesce("title", "title_fallback").map_elements(_unescape, return_dtype=pl.String),
        title_b=pl.coalesce("title_b", "title_b_fallback").map_elements(_unescape, return_dtype=pl.String),
        domain=pl.coalesce("domain", "domain_a", "domain_b").fill_null("Others"),
        tail=pl.col("tail").str.strip_chars(" .\"'"),
    )
    frame = frame.filter(
        pl.col("title").is_not_null()
        & pl.col("title_b").is_not_null()
        & (pl.col("tail").str.len_chars() >= 3)
        & (pl.col("tail").str.count_matches(" ") < 8)
    )
    frame = frame.with_columns(
        behavior_id=pl.struct("product_id", "product_id_b").map_elements(
            lambda r: pair_behavior_id(r["product_id"], r["product_id_b"]), return_dtype=pl.String
        )
    )
    return (
        frame.sort(["behavior_id", "relation", "typicality", "tail"], descending=[False, False, True, False])
        .unique(
            ["behavior_id", "relation", pl.col("tail").str.to_lowercase()], keep="first", maintain_order=True
        )
        .group_by(["behavior_id", "relation"], maintain_order=True)
        .agg(pl.col("tail").head(max_tails), pl.first("title", "title_b", "domain", "source"))
    )


def generation_examples(tails: pl.DataFrame) -> Iterator[Example]:
    library = load_library()
    for row in tails.iter_rows(named=True):
        pair = PairContext(
            behavior_id=row["behavior_id"],
            kind=BehaviorKind.CO_BUY,
            title=row["title"],
            title_b=row["title_b"],
        )
        prompt = library.get(BehaviorKind.CO_BUY, row["relation"])
        for template in range(templates.PHRASINGS):
            messages = templates.generation_messages(prompt, pair, row["tail"], template)
            yield Example(
                "generation",
                template,
                row["behavior_id"],
                BehaviorKind.CO_BUY.value,
                row["relation"],
                row["domain"],
                row["source"],
                "",
                messages,
            )


def judgement_examples(annotations: pl.DataFrame) -> Iterator[Example]:
    for row in annotations.iter_rows(named=True):
        task = (
            "typicality"
            if row["source"] == "intentionqa" and _pick(row["annotation_id"], 2)
            else "plausibility"
        )
        label = (row["typicality"] if task == "typicality" else row["plausibility"]) >= 0.5
        template = _pick(row["annotation_id"] + task, templates.PHRASINGS)
        messages = templates.judgement_messages(
            task, row["title"], row["title_b"], row["statement"], label, template
        )
        yield Example(
            task,
            template,
            row["behavior_id"],
            row["kind"],
            row["relation"] or "other",
            row["domain"] or "Others",
            row["source"],
            templates.yes_no(label),
            messages,
        )


def co_buy_pairs() -> pl.DataFrame:
    annotations = read_sample("critic/annotations.parquet").filter(
        pl.col("kind") == BehaviorKind.CO_BUY.value
    )
    return (
        annotations.select(
            "behavior_id",
            "product_id",
            "product_id_b",
            "title",
            "title_b",
            pl.col("domain").fill_null("Others"),
            "source",
        )
        .unique("behavior_id", keep="first")
        .sort("behavior_id")
    )


def co_buy_examples(pairs: pl.DataFrame, seed: int) -> Iterator[Example]:
    """Real co-buy pairs, and as many non-pairs: product A with the product B of another pair
    (another domain where possible), which no log shows bought together."""
    rng = random.Random(seed)
    rows = pairs.to_dicts()
    real = {r["behavior_id"] for r in rows}
    for row in rows:
        other = rows[rng.randrange(len(rows))]
        for _ in range(10):
            if other["domain"] != row["domain"] and other["product_id_b"] != row["product_id_b"]:
                break
            other = rows[rng.randrange(len(rows))]
        fake_id = pair_behavior_id(row["product_id"], other["product_id_b"])
        for behavior_id, title_b, label in (
            (row["behavior_id"], row["title_b"], True),
            (fake_id, other["title_b"], False),
        ):
            if not label and fake_id in real:
                continue
            template = _pick(behavior_id + "co_buy", templates.PHRASINGS)
            yield Example(
                "co_buy",
                template,
                behavior_id,
                BehaviorKind.CO_BUY.value,
                "",
                row["domain"],
                row["source"],
                templates.yes_no(label),
                templates.co_buy_messages(row["title"], title_b, label, template),
            )


def search_buy_pairs() -> pl.DataFrame:
    """WANDS queries with the bundled product of their class: the search-buy pairs we have."""
    products = read_sample("wands_products.parquet").select("product_id", "title", "product_type", "domain")
    queries = pl.read_csv(SAMPLES.joinpath("wands_queries.tsv").read_bytes(), separator="\t")
    frame = queries.join(products, left_on="query_class", right_on="product_type")
    return frame.with_columns(
        behavior_id=pl.format("search_buy:{}|{}", pl.col("query").str.to_lowercase(), "product_id")
    ).sort("behavior_id")


def search_relevance_examples(pairs: pl.DataFrame, seed: int) -> Iterator[Example]:
    rng = random.Random(seed)
    rows = pairs.to_dicts()
    for row in rows:
        other = rows[rng.randrange(len(rows))]
        while other["query_class"] == row["query_class"]:
            other = rows[rng.randrange(len(rows))]
        fake_id = f"search_buy:{row['query'].lower()}|{other['product_id']}"
        for behavior_id, title, label in (
            (row["behavior_id"], row["title"], True),
            (fake_id, other["title"], False),
        ):
            template = _pick(behavior_id + "search", templates.PHRASINGS)
            yield Example(
                "search_relevance",
                template,
                behavior_id,
                BehaviorKind.SEARCH_BUY.value,
                "",
                row["domain"] or "Others",
                "wands",
                templates.yes_no(label),
                templates.search_messages(row["query"], title, label, template),
            )
