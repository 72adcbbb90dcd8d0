"""A plausibility model only judges the relations it saw both ways; the others go to the default model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.clauses import statement_expr
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.plausibility import KindModels, known_relations
from cosmo_kg.refinement.runner import default_critic_dir


def test_known_relations_are_those_with_plausible_and_implausible_examples() -> None:
    target = np.array([1, 0, 0, 0, 1, 0])
    kinds = np.array(["search_buy"] * 4 + ["co_buy"] * 2, dtype=object)
    relations = np.array(["xINTERESTED_IN", "xINTERESTED_IN", "xWANT", "", "xWANT", "xWANT"], dtype=object)
    known = known_relations(target, kinds, relations)
    assert known == {"co_buy": ["xWANT"], "search_buy": ["xINTERESTED_IN"]}


def test_rows_of_a_relation_their_kind_never_judged_are_scored_by_the_default_model() -> None:
    models = KindModels({}, "co_buy", {}, {"co_buy": ["xWANT"], "search_buy": ["xINTERESTED_IN"]})
    kinds = np.array(["search_buy", "search_buy", "search_buy", "co_buy"], dtype=object)
    relations = np.array(["xINTERESTED_IN", "USED_IN_LOC", "", "USED_IN_LOC"], dtype=object)
    # Unknown to the search-buy model: the default's; no relation given: the kind's own; the default
    # model keeps every row of its kind.
    assert models.scoring_kinds(kinds, relations).tolist() == ["search_buy", "co_buy", "search_buy", "co_buy"]
    assert models.scoring_kinds(kinds, None).tolist() == kinds.tolist()
    assert KindModels({}, "co_buy", {}).scoring_kinds(kinds, relations).tolist() == kinds.tolist()


@pytest.mark.slow
def test_the_shipped_critic_keeps_a_fitting_search_buy_location_and_rejects_a_wrong_one(
    embedding_settings: EmbeddingSettings,
) -> None:
    # The constructed search-buy examples only judge xINTERESTED_IN both ways: before, every other
    # relation scored near 0 for search-buy ("the patio" 0.02), so no such knowledge was ever kept.
    rows = pl.DataFrame(
        {
            "behavior_id": ["search_buy:q1"] * 3,
            "kind": ["search_buy"] * 3,
            "query": ["outdoor dining set for 6"] * 3,
            "title": ["Patio Dining Set"] * 3,
            "title_b": [None] * 3,
            "relation": ["USED_IN_LOC", "USED_IN_LOC", "USED_FOR_AUD"],
            "tail": ["the patio", "the bathroom", "elderly people"],
        },
        schema_overrides={"title_b": pl.String()},
    ).with_columns(statement_expr())
    scores = load_critic(default_critic_dir(), embedding_settings).score(rows)["plausibility"].to_list()
    assert scores[0] >= 0.5 > scores[1] and scores[2] < 0.5
