"""Rule filters on the issue's real SmolLM2 outputs: keep "camping", drop title copies and junk."""

from __future__ import annotations

import polars as pl

from cosmo_kg.refinement.filters import FilterSettings, copies_context, generic, incomplete, tail_spread

TENNIS = {"title": "Wilson Pro Staff Tennis Racket", "title_b": "Penn Championship Tennis Balls, 3 Cans"}
CAMPING = {
    "title": "Coleman Sundome Camping Tent, 4 Person",
    "title_b": "Coleman Brazos Cold Weather Sleeping Bag",
}


def _frame(rows: list[tuple[dict[str, str], str]], **extra: object) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "behavior_id": ctx["title"],
                "query": None,
                "product_type": None,
                "domain": "Sports & Outdoors",
                **ctx,
                "tail": tail,
                **extra,
            }
            for ctx, tail in rows
        ]
    )


def test_tail_made_of_title_words_copies_context_but_one_word_activity_does_not() -> None:
    frame = _frame(
        [
            (TENNIS, "tennis rackets"),
            (TENNIS, "golf balls"),
            (CAMPING, "camping"),
            (CAMPING, "sleeping in tents"),
            (CAMPING, "camping tent"),
        ]
    )
    flags = copies_context(frame, FilterSettings()).to_list()
    assert flags == [True, False, False, False, True]


def test_tail_close_to_query_or_product_type_copies_context() -> None:
    frame = pl.DataFrame(
        {
            "tail": ["running shoe", "marathon training"],
            "query": ["running shoes"] * 2,
            "product_type": ["Shoe", "Shoe"],
            "title": ["Nike Pegasus"] * 2,
            "title_b": [None, None],
        }
    )
    assert copies_context(frame, FilterSettings()).to_list() == [True, False]


def test_incomplete_tails_are_cut_off_empty_or_rambling() -> None:
    tails = ["walking the", "go", "camping", "a vacation to Hawaii", " ".join(["very"] * 13) + " long"]
    frame = pl.DataFrame({"tail": tails})
    flags = frame.select(incomplete(FilterSettings())).to_series().to_list()
    assert flags == [True, True, False, False, True]


def test_generic_tail_is_frequent_and_spread_over_product_types() -> None:
    rows = [
        {"behavior_id": f"b{i}", "tail": "they like it", "product_type": f"type{i % 5}", "domain": None}
        for i in range(30)
    ]
    rows += [
        {"behavior_id": f"c{i}", "tail": "camping", "product_type": "Tent", "domain": None} for i in range(30)
    ]
    spread = tail_spread(pl.DataFrame(rows))
    assert generic(spread, 60, FilterSettings())["tail_key"].to_list() == ["they like it"]
