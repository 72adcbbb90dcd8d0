"""The phrasings of the five COSMO-LM instruction tasks (three per task) and the dataset card text.

Generation phrasing 0 is the run-time prompt of ``cosmo-kg generate`` without worked examples;
the judgement tasks answer ``Yes`` or ``No`` so that evaluation compares two answer likelihoods.
"""

from __future__ import annotations

import html
from typing import Any

from cosmo_kg.generation.prompts import PairContext, RelationPrompt

PHRASINGS = 3
YES, NO = "Yes", "No"
MAX_TITLE_WORDS = 12


def yes_no(label: bool) -> str:
    return YES if label else NO


def _short(title: str) -> str:
    return " ".join(html.unescape(title).split()[:MAX_TITLE_WORDS])


def numbered(tails: list[str]) -> str:
    return "\n".join(f"{i}. {tail}" for i, tail in enumerate(tails, 1))


def _chat(system: str, user: str, answer: str) -> tuple[dict[str, str], ...]:
    return (
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    )


def generation_messages(
    prompt: RelationPrompt, pair: PairContext, tails: list[str], template: int
) -> tuple[dict[str, str], ...]:
    """Pair + relation -> numbered typical tails; phrasing 0 is the generate stage's own prompt."""
    if template == 0:
        rendered = prompt.render(pair, exemplars=0, max_title_words=MAX_TITLE_WORDS)
        answer = f"{rendered.opener}\n{numbered(tails)}"
        return (*rendered.messages, {"role": "assistant", "content": answer})
    phrase = prompt.relation.co_buy_phrase
    a, b = _short(pair.title), _short(pair.title_b or "")
    if template == 1:
        return _chat(
            "You explain why customers buy products together.",
            f"Product A: {a}\nProduct B: {b}\nComplete with short phrases: "
            f"a customer bought A and B because they are both {phrase} ...",
            numbered(tails),
        )
    return _chat(
        "You are an e-commerce commonsense knowledge assistant.",
        f"Relation: {prompt.relation.name} ({prompt.relation.tail_type})\n"
        f"Bought together: {a} | {b}\nList the typical intentions.",
        numbered(tails),
    )


_JUDGE_QUESTIONS = {
    "plausibility": (
        "Is this explanation of the purchase plausible?",
        "Could this be the reason the customer bought both? Answer Yes or No.",
        "Plausible explanation?",
    ),
    "typicality": (
        "Is this a typical reason for buying both products?",
        "Would most customers buy these two products for this reason? Answer Yes or No.",
        "Typical intention?",
    ),
}


def judgement_messages(
    task: str, title: str, title_b: str, statement: str, label: bool, template: int
) -> tuple[dict[str, str], ...]:
    """Plausibility / typicality of an explanation of a co-buy pair."""
    question = _JUDGE_QUESTIONS[task][template]
    a, b = _short(title), _short(title_b)
    if template == 0:
        user = f"Product A: {a}\nProduct B: {b}\nExplanation: {statement}\n{question}"
    elif template == 1:
        user = f'A customer bought "{a}" and "{b}" because {statement}.\n{question}'
    else:
        user = f"{question}\nA: {a}\nB: {b}\nReason: {statement}"
    return _chat("You judge explanations of shopping behaviour. Answer Yes or No.", user, yes_no(label))


def co_buy_messages(title: str, title_b: str, label: bool, template: int) -> tuple[dict[str, str], ...]:
    a, b = _short(title), _short(title_b)
    user = (
        f"Product A: {a}\nProduct B: {b}\nAre A and B likely to be bought together?",
        f'A customer bought "{a}". Would they also buy "{b}"? Answer Yes or No.',
        f"Co-purchase?\n1: {a}\n2: {b}",
    )[template]
    return _chat("You predict shopping behaviour. Answer Yes or No.", user, yes_no(label))


def search_messages(query: str, title: str, label: bool, template: int) -> tuple[dict[str, str], ...]:
    t = _short(title)
    user = (
        f"Search Query: {query}\nProduct: {t}\nIs the product relevant to the query?",
        f'A customer searched for "{query}". Would they buy "{t}"? Answer Yes or No.',
        f"Relevant?\nquery: {query}\nproduct: {t}",
    )[template]
    return _chat("You judge search relevance in an online shop. Answer Yes or No.", user, yes_no(label))


def card_markdown(card: dict[str, Any]) -> str:
    """The dataset card: what the data is, where it comes from, and its counts."""
    lines = [
        "# COSMO-LM instruction data",
        "",
        "Built by `cosmo-kg instruct build` from the bundled human-judged samples (IntentionQA gold "
        "typicality and distractors, FolkScope silver Yes/No, IntentionQA / FolkScope co-buy pairs, "
        "WANDS queries). Split by pair with the critic's held-out split (`in_test_split`): no "
        "`behavior_id` is in both files. Chat form: `{split}.jsonl`; instruction/input/output form: "
        "`{split}.instruction.jsonl`.",
        "",
        f"Examples: {card['examples']}; pairs: {card['pairs']}; duplicates dropped: "
        f"{card['duplicates_dropped']}.",
        "",
        "| task | train | eval |",
        "|---|---:|---:|",
    ]
    lines += [f"| {task} | {c.get('train', 0)} | {c.get('eval', 0)} |" for task, c in card["by_task"].items()]
    for title, key in (
        ("Generation examples per relation", "by_relation"),
        ("Per domain", "by_domain"),
        ("Per source", "by_source"),
    ):
        lines += ["", f"## {title}", "", "| | examples |", "|---|---:|"]
        lines += [f"| {name} | {count} |" for name, count in card[key].items()]
    return "\n".join(lines) + "\n"
