"""Look-ahead into a GraphQL selection, so a parent resolver can fetch in its own round trip what
a child field is about to ask for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    VariableNode,
)
from strawberry.types import Info


def plain_page_size(info: Info, field: str, default: int) -> int | None:
    """The ``first`` of the one ``field`` selected under the current field when it takes no other
    argument (``field`` or ``field(first: N)``): None when absent, repeated, filtered or not an int."""
    # Strawberry's public Info.selected_fields converts the whole selection subtree, arguments
    # and directives included: twenty times the cost of reading the direct children here.
    raw = info._raw_info
    found = [node for node in _children(raw.field_nodes, raw.fragments) if node.name.value == field]
    if len(found) != 1:
        return None
    arguments = found[0].arguments or ()
    if not arguments:
        return default
    if len(arguments) > 1 or arguments[0].name.value != "first":
        return None
    value = arguments[0].value
    first: Any = None
    if isinstance(value, IntValueNode):
        first = int(value.value)
    elif isinstance(value, VariableNode):
        first = info.variable_values.get(value.name.value)
    return first if isinstance(first, int) else None


def _children(
    nodes: Iterable[FieldNode | InlineFragmentNode | FragmentDefinitionNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> Iterator[FieldNode]:
    """The fields selected directly under ``nodes``, through fragments."""
    for node in nodes:
        for child in node.selection_set.selections if node.selection_set else ():
            if isinstance(child, FieldNode):
                yield child
            elif isinstance(child, InlineFragmentNode):
                yield from _children([child], fragments)
            elif isinstance(child, FragmentSpreadNode):
                yield from _children([fragments[child.name.value]], fragments)
