"""Look-ahead into a GraphQL selection, so a parent resolver can fetch in its own round trip what
a child field is about to ask for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    get_nullable_type,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types import Info


def child_arguments(info: Info, field: str) -> dict[str, Any] | None:
    """The arguments (GraphQL names, variables and defaults applied, coerced as the executor will
    pass them) of the one ``field`` selected directly under the current field; None when the
    field is absent, selected more than once (aliases) or its arguments do not coerce."""
    # Strawberry's public Info.selected_fields converts the whole selection subtree, arguments
    # and directives included: twenty times the cost of reading the direct children here.
    raw = info._raw_info
    found = [node for node in _children(raw.field_nodes, raw.fragments) if node.name.value == field]
    parent = get_nullable_type(raw.return_type)
    if len(found) != 1 or not isinstance(parent, GraphQLObjectType) or field not in parent.fields:
        return None
    # Strawberry's executor gives resolvers the plain dict of coerced values; graphql-core wants
    # them in its container.
    variables = VariableValues(sources={}, coerced=info.variable_values)
    try:
        return get_argument_values(parent.fields[field], found[0], variables)
    except (GraphQLError, TypeError, AttributeError):
        # Bad arguments are the field resolver's to report; and should graphql-core's signature
        # move, the page is simply read by the field in a round trip of its own.
        return None


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
