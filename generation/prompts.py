"""The prompt library: relation-aware QA prompts loaded from versioned data (``prompts/*.toml``).

One ``RelationPrompt`` per (behaviour kind, relation). Rendering a prompt for a pair gives both
forms a backend may need: ``text`` for raw completion, and ``messages`` + ``prefill`` for chat
models (the assistant turn is opened with the answer phrase and ``1.``, so the model continues
the numbered list).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from cosmo_kg.errors import ConfigError
from cosmo_kg.text import text_key
from cosmo_kg.vocabulary import RELATIONS, BehaviorKind, Relation

PROMPT_FILES = ("search_buy.toml", "co_buy.toml")
EXEMPLAR_FILES = ("exemplars_intentionqa.toml",)


@dataclass(frozen=True)
class PairContext:
    """What one prompt explains: a search-buy (query, product) or co-buy (product, product) pair."""

    behavior_id: str
    kind: BehaviorKind
    title: str
    query: str | None = None
    title_b: str | None = None
    product_ids: frozenset[str] = frozenset()

    def keys(self) -> set[str]:
        """Lookup keys of the pair's texts: an exemplar or a tail equal to one is an echo."""
        return {text_key(t) for t in (self.query, self.title, self.title_b) if t}


@dataclass(frozen=True)
class Exemplar:
    """A worked example: a pair's context and its good tails, shown before the question."""

    id: str
    context: PairContext
    tails: tuple[str, ...]

    def overlaps(self, pair: PairContext) -> bool:
        return bool(self.context.product_ids & pair.product_ids or self.context.keys() & pair.keys())


@dataclass(frozen=True)
class KindTemplate:
    """The prompt skeleton shared by the relations of one behaviour kind."""

    kind: BehaviorKind
    version: int
    task: str
    context: str
    question: str
    answer: str


@dataclass(frozen=True)
class RenderedPrompt:
    """One prompt ready for a backend, with what the candidates record about it."""

    pair: PairContext
    relation: str
    version: str
    exemplar_ids: tuple[str, ...]
    text: str
    messages: tuple[dict[str, str], ...]
    prefill: str
    opener: str
    echo_keys: frozenset[str]  # texts shown in the prompt: a tail equal to one is an echo, not an answer


def _short(title: str, max_words: int) -> str:
    words = title.split()
    return " ".join(words[:max_words])


@dataclass(frozen=True)
class RelationPrompt:
    """The prompt of one (kind, relation): skeleton, relation words, version and exemplar pool."""

    template: KindTemplate
    relation: Relation
    version: int
    exemplars: tuple[Exemplar, ...]
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        data = json.dumps(
            [
                self.template.__dict__,
                self.relation.__dict__,
                [(e.id, e.context.__dict__, e.tails) for e in self.exemplars],
            ],
            sort_keys=True,
            default=sorted,
        )
        digest = hashlib.sha256(data.encode()).hexdigest()[:8]
        object.__setattr__(
            self,
            "tag",
            f"{self.template.kind}.{self.relation.name}@v{self.template.version}.{self.version}+{digest}",
        )

    def _context(self, pair: PairContext, max_title_words: int) -> str:
        return self.template.context.format(
            query=pair.query or "",
            title=_short(pair.title, max_title_words),
            title_b=_short(pair.title_b or "", max_title_words),
        )

    def _question(self) -> str:
        return self.template.question.format(question=self.relation.search_buy_question)

    def opener(self) -> str:
        return self.template.answer.format(phrase=self.relation.co_buy_phrase)

    def choose_exemplars(self, pair: PairContext, count: int, seed: int) -> list[Exemplar]:
        """``count`` exemplars for ``pair``, never one about the pair itself, chosen by a hash of
        the pair id and the seed so that a re-run (or a resumed run) picks the same ones."""

        def order(e: Exemplar) -> tuple[bool, str]:
            # Worked examples with several tails first: a small model answers with as many
            # items as the examples show, so one-tail gold examples only fill up the rest.
            return len(e.tails) < 2, hashlib.sha256(f"{seed}|{pair.behavior_id}|{e.id}".encode()).hexdigest()

        allowed = [e for e in self.exemplars if not e.overlaps(pair)]
        return sorted(allowed, key=order)[:count]

    def render(
        self, pair: PairContext, *, exemplars: int = 3, seed: int = 0, max_title_words: int = 12
    ) -> RenderedPrompt:
        """Render this prompt for one pair, with ``exemplars`` worked examples."""
        shown = self.choose_exemplars(pair, exemplars, seed)
        opener = self.opener()
        question = self._question()
        blocks = [f"Task: {self.template.task}"]
        messages = [{"role": "system", "content": self.template.task}]
        for ex in shown:
            context = self._context(ex.context, max_title_words)
            answer = opener + "\n" + "\n".join(f"{i}. {tail}" for i, tail in enumerate(ex.tails, 1))
            blocks.append(f"{context}\n{question}\nAnswer: {answer}")
            messages += [
                {"role": "user", "content": f"{context}\n{question}"},
                {"role": "assistant", "content": answer},
            ]
        context = self._context(pair, max_title_words)
        prefill = f"{opener}\n1."
        blocks.append(f"{context}\n{question}\nAnswer: {prefill}")
        messages.append({"role": "user", "content": f"{context}\n{question}"})
        return RenderedPrompt(
            pair=pair,
            relation=self.relation.name,
            version=self.tag,
            exemplar_ids=tuple(e.id for e in shown),
            text="\n\n".join(blocks),
            messages=tuple(messages),
            prefill=prefill,
            opener=opener,
            echo_keys=frozenset(_shown_keys(pair, shown)),
        )


def _shown_keys(pair: PairContext, shown: list[Exemplar]) -> set[str]:
    keys = pair.keys()
    for ex in shown:
        keys |= ex.context.keys() | {text_key(tail) for tail in ex.tails}
    return keys


def _read_toml(name: str) -> dict[str, Any]:
    path = resources.files("cosmo_kg.generation").joinpath("prompts", name)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"prompt file prompts/{name} is missing or not valid TOML: {exc}",
            hint="reinstall cosmo-kg or fix the file",
        ) from exc


def _exemplar(kind: BehaviorKind, relation: str, index: int, raw: dict[str, Any]) -> Exemplar:
    ids = frozenset(str(raw[k]) for k in ("product_id", "product_id_b") if raw.get(k))
    context = PairContext(
        behavior_id=raw.get("id", ""),
        kind=kind,
        title=raw["title"],
        query=raw.get("query"),
        title_b=raw.get("title_b"),
        product_ids=ids,
    )
    return Exemplar(
        id=raw.get("id") or f"{kind}.{relation}.{index}", context=context, tails=tuple(raw["tails"])
    )


def _pool(data: dict[str, Any], kind: BehaviorKind, relation: str) -> Iterable[Exemplar]:
    entries = data.get("relations", {}).get(relation, {}).get("exemplars", [])
    return (_exemplar(kind, relation, i, raw) for i, raw in enumerate(entries, 1))


@dataclass(frozen=True)
class PromptLibrary:
    """Every (kind, relation) prompt; ``get`` raises a ``ConfigError`` for a missing one."""

    prompts: dict[tuple[BehaviorKind, str], RelationPrompt]

    def get(self, kind: BehaviorKind, relation: str) -> RelationPrompt:
        try:
            return self.prompts[(kind, relation)]
        except KeyError:
            raise ConfigError(
                f"no prompt for {kind} / {relation}",
                hint=f"add [relations.{relation}] to generation/prompts/{kind}.toml",
            ) from None

    def versions(self) -> dict[str, str]:
        return {f"{kind}.{relation}": p.tag for (kind, relation), p in sorted(self.prompts.items())}


@cache
def load_library() -> PromptLibrary:
    """Load the bundled prompt files and exemplar pools (cached: they are package data)."""
    extra = [_read_toml(name) for name in EXEMPLAR_FILES]
    prompts: dict[tuple[BehaviorKind, str], RelationPrompt] = {}
    for name in PROMPT_FILES:
        data = _read_toml(name)
        kind = BehaviorKind(data["kind"])
        template = KindTemplate(
            kind=kind,
            version=int(data["version"]),
            task=data["task"],
            context=data["context"],
            question=data["question"],
            answer=data["answer"],
        )
        for relation, entry in data["relations"].items():
            pool = list(_pool(data, kind, relation))
            for more in extra:
                if more["kind"] == kind:
                    pool += _pool(more, kind, relation)
            prompts[(kind, relation)] = RelationPrompt(
                template, RELATIONS[relation], int(entry["version"]), tuple(pool)
            )
    return PromptLibrary(prompts)
