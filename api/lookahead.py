"""Look-ahead into a GraphQL selection, so a parent resolver can fetch in its own round trip what
a child field is about to ask for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection


def plain_page_size(info: Info, field: str, default: int) -> int | None:
    """The ``first`` of the one ``field`` selected under the current field when it takes no other
    argument (``field`` or ``field(first: N)``): None when absent, repeated, filtered or not an int."""
    found = [s for s in _children(info.selected_fields) if s.name == field]
    if len(found) != 1 or set(found[0].arguments) - {"first"}:
        return None
    first = found[0].arguments.get("first", default)
    # A literal arrives as its source text, a variable as its coerced value.
    if isinstance(first, str) and first.isdigit():
        return int(first)
    return first if isinstance(first, int) else None


def _children(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields selected directly under ``selections``, through fragments."""
    for selection in selections:
        for child in selection.selections:
            if isinstance(child, SelectedField):
                yield child
            else:
                yield from _children([child])
