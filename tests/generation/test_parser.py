"""Parser cases; the continuations are recorded outputs of SmolLM2-135M-Instruct on real pairs."""

from __future__ import annotations

import pytest

from cosmo_kg.generation.parser import TailLimits, numbered_items, parse_tails

CO_BUY_OPENER = "a customer bought A and B because they are both used for the activity of"
LIMITS = TailLimits(min_chars=3, max_chars=60, max_words=6, max_tails=5)


def parse(
    text: str, *, truncated: bool = False, echo: frozenset[str] = frozenset(), opener: str = CO_BUY_OPENER
) -> list[str]:
    return parse_tails(text, opener=opener, echo_keys=echo, truncated=truncated, limits=LIMITS)


@pytest.mark.parametrize(
    ("continuation", "tails"),
    [
        # recorded: Invicta diver watches, USED_FOR_EVE
        (" swimming\n2. diving\n3. diving with a partner", ["swimming", "diving", "diving with a partner"]),
        # recorded: duplicates inside one list are dropped
        (
            " learn about jewelry\n2. learn about jewelry\n3. make jewelry",
            ["learn about jewelry", "make jewelry"],
        ),
        # recorded: the list ends at the blank line, before the prompt echo
        (
            " camping\n2. sleeping in tents\n3. hiking\n\nProduct A: Dome Tent\nProduct B: Sleeping Bag",
            ["camping", "sleeping in tents", "hiking"],
        ),
        # a chat server without prefill repeats the answer phrase first
        (f"{CO_BUY_OPENER}\n1. gaming\n2. streaming music", ["gaming", "streaming music"]),
        (f"Answer: {CO_BUY_OPENER}\n1. gaming.", ["gaming"]),
        # one-line lists, numbering with ")" and punctuation around items
        (' "fishing", 2) boating; 3) "camping trips".', ["fishing", "boating", "camping trips"]),
    ],
)
def test_parses_numbered_continuations(continuation: str, tails: list[str]) -> None:
    assert parse(continuation) == tails


def test_truncated_continuation_drops_its_cut_last_item() -> None:
    # recorded: the search-buy tent prompt looped until the token limit
    text = " camping\n2. camping\n3. camping\n4. camping\n5. camping\n6. camping\n7. camping\n8. camp"
    assert parse(text, truncated=True) == ["camping"]
    assert parse(" camping\n2. hiking\n3. fish", truncated=True) == ["camping", "hiking"]


def test_echoes_of_the_prompt_are_not_candidates() -> None:
    echo = frozenset({"best grandpa ever t-shirt", "learn watercolor", "make art"})
    # recorded: copies two tails of a worked example and the product title
    text = " best grandpa ever T-Shirt\n2. learn watercolor\n3. make art\n4. visit grandparents"
    assert parse(text, echo=echo) == ["visit grandparents"]
    assert parse(" Question: why would a customer buy product A?") == []


def test_length_bounds_and_max_tails() -> None:
    # too short (1, 4), too many words (3), then only the first five good ones are kept
    text = " a\n2. ok go\n3. " + "very " * 10 + "long\n4. x\n5. b1\n6. c1 d\n7. e1 f\n8. g1 h\n9. i1 j"
    assert parse(text) == ["ok go", "c1 d", "e1 f", "g1 h", "i1 j"]


def test_rambling_output_without_a_list_yields_nothing_usable() -> None:
    # recorded: zero-shot SmolLM2 output (no worked examples)
    text = ' The answer is "The best way to enjoy a beach vacation is to plan your'
    assert parse(text, truncated=True) == []


def test_numbers_inside_items_do_not_split_them() -> None:
    assert numbered_items("1. size 10. shoes\n2. a 2.5 inch hose") == [" size 10. shoes", " a 2.5 inch hose"]
