"""A depth limit that counts every field, introspection included.

Strawberry's QueryDepthLimiter skips `__schema`/`__type` subtrees entirely, which leaves
the classic `ofType { ofType { … } }` introspection bomb unbounded. Here introspection
subtrees have their own, larger bound: the standard introspection query (GraphiQL's)
nests about 14 levels, more than an application query needs.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

INTROSPECTION_MAX_DEPTH = 20
_INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


class _TooDeep(Exception):
    pass


def _walk(
    selection_set: SelectionSetNode | None,
    context: ValidationContext,
    *,
    depth: int,
    limit: int,
    seen_fragments: frozenset[str],
) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            field_limit = limit
            if selection.name.value in _INTROSPECTION_ROOTS:
                field_limit = max(limit, INTROSPECTION_MAX_DEPTH)
            if depth + 1 > field_limit:
                raise _TooDeep
            _walk(
                selection.selection_set,
                context,
                depth=depth + 1,
                limit=field_limit,
                seen_fragments=seen_fragments,
            )
        elif isinstance(selection, InlineFragmentNode):
            _walk(
                selection.selection_set,
                context,
                depth=depth,
                limit=limit,
                seen_fragments=seen_fragments,
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is None or name in seen_fragments:
                continue  # unknown or cyclic: other validation rules report those
            _walk(
                fragment.selection_set,
                context,
                depth=depth,
                limit=limit,
                seen_fragments=seen_fragments | {name},
            )


def max_depth_rule(limit: int) -> type[ValidationRule]:
    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            try:
                _walk(
                    node.selection_set,
                    self.context,
                    depth=0,
                    limit=limit,
                    seen_fragments=frozenset(),
                )
            except _TooDeep:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(f"operation '{name}' exceeds the maximum depth of {limit}", node)
                )

    return MaxDepth
