"""A depth limit that counts every field, introspection included.

Strawberry's QueryDepthLimiter skips `__schema`/`__type` subtrees entirely, which leaves
the classic `ofType { ofType { … } }` introspection bomb unbounded.
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


def _depth(
    selection_set: SelectionSetNode | None,
    context: ValidationContext,
    limit: int,
    seen_fragments: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            depth = 1 + _depth(selection.selection_set, context, limit, seen_fragments)
        elif isinstance(selection, InlineFragmentNode):
            depth = _depth(selection.selection_set, context, limit, seen_fragments)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is None or name in seen_fragments:
                continue  # unknown or cyclic: other validation rules report those
            depth = _depth(fragment.selection_set, context, limit, seen_fragments | {name})
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break  # no need to walk the rest of a document already over the limit
    return deepest


def max_depth_rule(limit: int) -> type[ValidationRule]:
    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = _depth(node.selection_set, self.context, limit, frozenset())
            if depth > limit:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(f"operation '{name}' exceeds the maximum depth of {limit}", node)
                )

    return MaxDepth
