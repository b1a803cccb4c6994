"""The schema's root types and its assembly with limits and error shaping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as create_alias_validator
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult, Info
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from fowergram.domain.ticks import plan_ticks
from fowergram.graphql.auth import AuthMutation, AuthQuery
from fowergram.graphql.comments import CommentMutation, CommentQuery
from fowergram.graphql.context import Context
from fowergram.graphql.depth_limit import max_depth_rule
from fowergram.graphql.errors import ShapeErrors, shape_errors
from fowergram.graphql.graph import GraphMutation, GraphQuery
from fowergram.graphql.lean_executor import lean_executor, plain_field_plans
from fowergram.graphql.live.notifications import NotificationSubscription
from fowergram.graphql.live.post_activity import PostSubscription
from fowergram.graphql.live.presence import PresenceSubscription
from fowergram.graphql.mfa import MfaMutation
from fowergram.graphql.moderation import ModerationMutation
from fowergram.graphql.notifications import NotificationMutation, NotificationQuery
from fowergram.graphql.parse_cache import CachedParse
from fowergram.graphql.posts import PostMutation, PostQuery
from fowergram.graphql.prepared import PreparedOperation, PreparedOperations
from fowergram.graphql.presence import PresenceQuery
from fowergram.graphql.profile_edit import ProfileEditMutation
from fowergram.graphql.profiles import ProfileQuery
from fowergram.graphql.search import SearchQuery
from fowergram.graphql.social import SocialMutation, SocialQuery
from fowergram.graphql.types.server_info import ServerInfoType
from fowergram.graphql.validation_cache import CachedValidation, ValidationResults

PARSED_DOCUMENTS_CACHED = 1024


@strawberry.type
class Query(
    AuthQuery,
    SocialQuery,
    ProfileQuery,
    PostQuery,
    GraphQuery,
    SearchQuery,
    CommentQuery,
    NotificationQuery,
    PresenceQuery,
):
    @strawberry.field(description="Name, version, environment and clock of this server.")
    def server_info(self, info: Info[Context, None]) -> ServerInfoType:
        return ServerInfoType.from_domain(info.context.services.server_info.current())


@strawberry.type
class Subscription(NotificationSubscription, PostSubscription, PresenceSubscription):
    @strawberry.subscription(
        description="A counter every `every` milliseconds (10 to 60000), `count` times or for ever."
    )
    async def ticks(self, every: int = 1000, count: int | None = None) -> AsyncGenerator[int, None]:
        plan = plan_ticks(every, count)
        sent = 0
        while plan.count is None or sent < plan.count:
            await asyncio.sleep(plan.interval_s)
            sent += 1
            yield sent


@strawberry.type
class Mutation(
    AuthMutation,
    MfaMutation,
    SocialMutation,
    PostMutation,
    GraphMutation,
    ProfileEditMutation,
    CommentMutation,
    NotificationMutation,
    ModerationMutation,
):
    pass


class FowergramSchema(strawberry.Schema):
    # The limits its extensions apply, for a path that validates a document itself
    # (realtime/pushed.py) and must accept exactly what this schema accepts.
    validation_rules: tuple[type[ASTValidationRule], ...] = ()
    max_tokens: int | None = None
    # Documents known to execute as they stand (None: every request takes Strawberry's path).
    prepared: PreparedOperations | None = None

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # `execute` serves HTTP only; subscriptions belong to the WebSocket hub, with its
        # connection limits, so over HTTP they are refused like mutations over GET.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        allowed.discard(OperationType.SUBSCRIPTION)
        prepared = (
            self.prepared.get(query, operation_name, allowed) if self.prepared is not None else None
        )
        if prepared is not None:
            return await self._execute_prepared(
                prepared, variable_values, context_value, root_value, operation_extensions
            )
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def _execute_prepared(
        self,
        prepared: PreparedOperation,
        variable_values: dict[str, Any] | None,
        context_value: Any | None,
        root_value: Any | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        # What Strawberry's execute does once its hooks have parsed and validated.
        try:
            result = self._get_execute_function()(
                self._schema,
                prepared.document,
                root_value=root_value,
                variable_values=variable_values,
                operation_name=prepared.operation_name,
                context_value=context_value,
                is_awaitable=optimized_is_awaitable,
                executor_class=self.execution_context_class,
                operation_extensions=operation_extensions,
            )
            if optimized_is_awaitable(result):
                result = await result
        except Exception as exc:  # as in Strawberry: the error is the answer
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            return PreExecutionError(data=None, errors=shape_errors([error]), extensions={})
        errors = shape_errors(result.errors) if result.errors else result.errors
        return ExecutionResult(data=result.data, errors=errors, extensions={})

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ShapeErrors logs unexpected errors once, with the id the client sees.
        return None


def build_schema(
    *, max_depth: int, max_tokens: int, max_aliases: int, introspection: bool
) -> FowergramSchema:
    rules: list[type[ASTValidationRule]] = [
        max_depth_rule(max_depth),
        create_alias_validator(max_aliases),
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    validations = ValidationResults(PARSED_DOCUMENTS_CACHED)
    # Factories, not instances: Strawberry builds fresh extensions for every operation.
    # The token limit stops the parser itself, before a huge document costs any CPU.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        ShapeErrors,  # first: it wraps the others, so it sees every error they produce
        # Parsing and validating a document costs more than running a small query:
        # repeated documents (clients send the same few) skip both.
        CachedParse,
        partial(CachedValidation, validations),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        # The rule classes are made once: CachedValidation keys on them, and a class made
        # per request (as MaxAliasesLimiter does) would never hit the cache.
        partial(AddValidationRules, rules),
    ]
    schema = FowergramSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
    schema.validation_rules = tuple(rules)
    schema.max_tokens = max_tokens
    schema.prepared = PreparedOperations(
        schema._schema,
        # As Strawberry's path validates: its default rules, then AddValidationRules'.
        rules=(*specified_rules, *rules),
        parse_options={"max_tokens": max_tokens},
        validations=validations,
        size=PARSED_DOCUMENTS_CACHED,
    )
    # Known only once the schema exists: which fields are plain attribute leaves.
    schema.execution_context_class = lean_executor(
        plain_field_plans(schema._schema, schema.config.default_resolver)
    )
    return schema


def schema_sdl() -> str:
    """The schema in SDL, as checked in at schema.graphql (limits do not change it)."""
    schema = build_schema(max_depth=12, max_tokens=5000, max_aliases=30, introspection=True)
    return schema.as_str() + "\n"
