"""docs/schema.graphql is the exported SDL of the code; the Relation enum is the vocabulary's."""

from __future__ import annotations

from pathlib import Path

from cosmo_kg.api.schema import schema_sdl
from cosmo_kg.vocabulary import RELATIONS

SDL_FILE = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"


def test_exported_sdl_matches_the_code() -> None:
    assert SDL_FILE.read_text(encoding="utf-8") == schema_sdl(), (
        "docs/schema.graphql drifted: run `cosmo-kg graphql-schema > docs/schema.graphql`"
    )


def test_relation_enum_lists_every_vocabulary_relation() -> None:
    sdl = schema_sdl()
    block = sdl[sdl.index("enum Relation {") :].split("}", 1)[0]
    assert [line.strip() for line in block.splitlines()[1:] if line.strip()] == list(RELATIONS)
