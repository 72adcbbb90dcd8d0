"""A cached answer is sent as stored: the spliced JSON equals the parsed-and-serialised one."""

from __future__ import annotations

import json

import orjson

from cosmo_kg.api.answers import AnswerItem, QueryAnswer

ANSWER = QueryAnswer(
    'tent "source": {x}',  # a query that looks like a key must stay inside its string
    "graph",
    [AnswerItem("go camping", 0.855, "USED_FOR_EVE", 0.95, 0.9), AnswerItem("campsite", 0.4)],
    "2026-01-01T00:00:00+00:00",
)


def test_stored_answer_is_sent_with_the_tier_it_was_read_from() -> None:
    spliced = QueryAnswer.stored_json(ANSWER.to_bytes(), "tier1")
    assert spliced.startswith(b'{"source":"tier1","query":')
    assert orjson.loads(spliced) == {**ANSWER.to_dict(), "source": "tier1"}
    assert QueryAnswer.from_bytes(ANSWER.to_bytes(), "tier2") == QueryAnswer(
        ANSWER.query, "tier2", ANSWER.intentions, ANSWER.computed_at
    )


def test_answer_stored_with_its_computed_source_is_sent_with_the_tier_once() -> None:
    earlier = json.dumps(ANSWER.to_dict()).encode()  # how earlier versions stored answers
    sent = QueryAnswer.stored_json(earlier, "tier2")
    assert sent.count(b'"source":') == 1
    assert orjson.loads(sent) == {**ANSWER.to_dict(), "source": "tier2"}
