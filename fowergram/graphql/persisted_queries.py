"""Automatic persisted queries (Apollo's protocol): a client sends
`extensions.persistedQuery = {version: 1, sha256Hash}` without the document; the server
answers PERSISTED_QUERY_NOT_FOUND the first time, the client retries with the document,
and from then on the hash alone is enough (on every instance)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Protocol

from strawberry.http import GraphQLRequestData

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...
    async def put(self, sha256: str, document: str) -> None: ...


class PersistedQueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def resolve_persisted(
    data: GraphQLRequestData, store: PersistedQueryStore
) -> GraphQLRequestData:
    persisted = (data.extensions or {}).get("persistedQuery")
    if persisted is None:
        return data
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise PersistedQueryError("BAD_REQUEST", "sha256Hash must be 64 lower-case hex digits")
    if data.query is None:
        document = await store.get(sha256)
        if document is None:
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return replace(data, query=document)
    if hashlib.sha256(data.query.encode()).hexdigest() != sha256:
        raise PersistedQueryError("BAD_REQUEST", "provided sha does not match query")
    await store.put(sha256, data.query)
    return data
