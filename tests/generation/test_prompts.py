from __future__ import annotations

import pytest

from cosmo_kg.generation.prompts import PairContext, load_library
from cosmo_kg.vocabulary import BehaviorKind, relations_for

from .conftest import sample_pairs

ALL_PROMPTS = [(kind, r.name) for kind in BehaviorKind for r in relations_for(kind)]


def _real_pair(kind: BehaviorKind) -> PairContext:
    pairs, products = sample_pairs(co_buy=1, search_buy=1)
    titles = dict(products.select("product_id", "title").iter_rows())
    row = pairs.filter(kind=kind.value).row(0, named=True)
    return PairContext(
        behavior_id=row["behavior_id"],
        kind=kind,
        title=titles[row["product_id"]],
        query=row["query"],
        title_b=titles.get(row["product_id_b"]),
        product_ids=frozenset(i for i in (row["product_id"], row["product_id_b"]) if i),
    )


def test_library_has_a_prompt_for_every_kind_and_relation() -> None:
    assert set(load_library().prompts) == set(ALL_PROMPTS)


@pytest.mark.parametrize(("kind", "relation"), ALL_PROMPTS)
def test_every_prompt_renders_a_qa_prompt_with_real_data(kind: BehaviorKind, relation: str) -> None:
    pair = _real_pair(kind)
    prompt = load_library().get(kind, relation).render(pair, exemplars=3, max_title_words=8)
    short_title = " ".join(pair.title.split()[:8])
    assert prompt.text.startswith("Task: Please provide typical explanation")
    assert prompt.text.endswith(f"Answer: {prompt.opener}\n1.")
    assert short_title in prompt.text and short_title in prompt.messages[-1]["content"]
    assert (pair.query or short_title) in prompt.messages[-1]["content"]
    assert len(prompt.exemplar_ids) == 3 and prompt.text.count("Answer:") == 4
    assert prompt.messages[0]["role"] == "system" and prompt.messages[-1]["role"] == "user"
    assert prompt.prefill == f"{prompt.opener}\n1."
    assert prompt.version.startswith(f"{kind}.{relation}@v1.1+")


def test_zero_exemplars_gives_the_plain_question() -> None:
    pair = _real_pair(BehaviorKind.SEARCH_BUY)
    prompt = load_library().get(BehaviorKind.SEARCH_BUY, "CAPABLE_OF").render(pair, exemplars=0)
    assert prompt.exemplar_ids == ()
    question = "what is the product capable of, which exactly match the intention of the search query?"
    assert question in prompt.text
    assert prompt.text.endswith("Answer: the query means customers want the product that is capable of\n1.")


def test_exemplars_never_come_from_the_pair_being_explained() -> None:
    prompt = load_library().get(BehaviorKind.CO_BUY, "CAPABLE_OF")
    for gold in [e for e in prompt.exemplars if e.context.product_ids]:
        pair = PairContext(
            behavior_id="x",
            kind=BehaviorKind.CO_BUY,
            title=gold.context.title,
            title_b=gold.context.title_b,
            product_ids=gold.context.product_ids,
        )
        assert gold.id not in prompt.render(pair, exemplars=len(prompt.exemplars)).exemplar_ids


def test_exemplar_choice_is_stable_per_pair_and_seed() -> None:
    prompt = load_library().get(BehaviorKind.CO_BUY, "xWANT")
    pair = _real_pair(BehaviorKind.CO_BUY)
    first = prompt.render(pair, exemplars=4, seed=1).exemplar_ids
    assert prompt.render(pair, exemplars=4, seed=1).exemplar_ids == first
    assert len(set(first)) == 4


def test_version_changes_when_the_exemplar_pool_changes() -> None:
    prompt = load_library().get(BehaviorKind.CO_BUY, "xWANT")
    trimmed = type(prompt)(prompt.template, prompt.relation, prompt.version, prompt.exemplars[1:])
    assert trimmed.tag != prompt.tag and trimmed.tag.split("+")[0] == prompt.tag.split("+")[0]
