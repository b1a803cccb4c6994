"""Presence in Redis: which instance holds which user's sockets, and each instance's heartbeat.

Keys, under `<prefix>{presence}:` (one hash tag, so that a Redis Cluster keeps them in one
slot, as the scripts need):

- `instances`: sorted set, instance id -> its last heartbeat (ms). A sorted set rather than
  one key with a TTL per instance: an expired key leaves no trace, and the sweep must know
  which instance died to drop its sockets. Whether a heartbeat is too old is the domain's
  rule (`stale_instances`), judged by whoever sweeps.
- `reaping`: sorted set, dead instance id -> its last heartbeat, while its sockets are
  being dropped (in chunks, by any number of sweepers).
- `inst:<instance>`: set of the user ids with a socket on that instance.
- `user:<id>`: hash, "<instance> <connection>" -> "1": the user's open sockets.
- `seen`: hash, user id -> when their last socket closed (ms).

Every change is one Lua script, so changes to one user are serialised: each returns the
state it found, the caller applies the same change with the domain's pure functions to
learn what it became, and two sockets closing at once on two instances yield exactly one
offline. A socket is only accepted under a registered instance, so every held socket
belongs to an instance that is either live or being reaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from fowergram.adapters.coalesced import Coalesced
from fowergram.domain.presence import HeldSockets, Socket

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _for_each_socket(change: str, name: str, args_per_socket: int) -> str:
    """A script applying the Lua function `name` (defined in `change`, taking the
    socket's index) to each socket of the call, under pcall: a failure (a key of the
    wrong type) fails that socket alone and comes back as {err} in place of its result."""
    return f"""{change}
local results = {{}}
for i = 1, #ARGV / {args_per_socket} do
  local ok, result = pcall({name}, i)
  if ok then results[i] = result else results[i] = {{result.err or tostring(result)}} end
end
return results
"""


# Sockets opening together are held by one script call: per socket, a call costs ~20 µs
# of redis-py's packing and parsing in the server's loop (a reconnect storm opens
# hundreds at once); one call for all of them costs little more than one.
# KEYS: instances, seen, then each socket's user hash and instance's users.
# ARGV: each socket's instance, field, user id. A socket's result: false when the
# instance is not registered (it was declared dead, or never beat), else {fields before,
# seen before}.
_CONNECT_EACH = _for_each_socket(
    """
local function connect(i)
  local instance, field, user = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if not redis.call('ZSCORE', KEYS[1], instance) then return false end
  local before = redis.call('HKEYS', KEYS[2 * i + 1])
  local seen = redis.call('HGET', KEYS[2], user)
  redis.call('HSET', KEYS[2 * i + 1], field, '1')
  redis.call('SADD', KEYS[2 * i + 2], user)
  return {before, seen}
end""",
    "connect",
    3,
)

# KEYS: seen, then each socket's user hash and instance's users. ARGV: each socket's
# instance, field, user id, when it closed (ms). A socket's result: {fields before, seen
# before}.
_DISCONNECT_EACH = _for_each_socket(
    """
local function disconnect(i)
  local instance, field, user, now = ARGV[4 * i - 3], ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i]
  local userkey = KEYS[2 * i]
  local before = redis.call('HKEYS', userkey)
  local seen = redis.call('HGET', KEYS[1], user)
  if redis.call('HDEL', userkey, field) == 1 then
    redis.call('HSET', KEYS[1], user, now)
    local mine = instance .. ' '
    for _, held in ipairs(redis.call('HKEYS', userkey)) do
      if string.sub(held, 1, #mine) == mine then return {before, seen} end
    end
    redis.call('SREM', KEYS[2 * i + 1], user)
  end
  return {before, seen}
end""",
    "disconnect",
    4,
)

# KEYS: instances. ARGV: instance, now (ms), "1" for a first registration.
# 0: the instance was declared dead meanwhile (it must come back under a new id).
_BEAT = """
if ARGV[3] ~= '1' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

# KEYS: instances, reaping. ARGV: instance, heartbeat read (ms), ... Moves each instance
# that has not beaten since it was read to `reaping`; returns those moved.
_BURY = """
local buried = {}
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[2], score, ARGV[i])
    table.insert(buried, ARGV[i])
  end
end
return buried
"""

# KEYS: reaping, instance's users, seen. ARGV: instance, chunk size, user key prefix.
# Drops the sockets of up to `chunk` users; SPOP hands each user to one sweeper only.
# Returns nil when the instance is no longer being reaped, else {heartbeat, done,
# {{user id, fields before, seen before}, ...}}.
_REAP = """
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat then return false end
local mine = ARGV[1] .. ' '
local reaped = {}
for _, user in ipairs(redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))) do
  local key = ARGV[3] .. user
  local before = redis.call('HKEYS', key)
  local seen = redis.call('HGET', KEYS[3], user)
  local dropped = false
  for _, field in ipairs(before) do
    if string.sub(field, 1, #mine) == mine then
      redis.call('HDEL', key, field)
      dropped = true
    end
  end
  if dropped and (not seen or tonumber(seen) < tonumber(beat)) then
    redis.call('HSET', KEYS[3], user, beat)
  end
  table.insert(reaped, {user, before, seen})
end
local done = 0
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  done = 1
end
return {beat, done, reaped}
"""


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // _MS


def from_ms(value: bytes | str | float) -> datetime:
    return EPOCH + timedelta(milliseconds=int(float(value)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(socket: Socket) -> str:
    return f"{socket.instance_id} {socket.connection_id}"


def _held_or_failure(user_id: int, result: list[Any]) -> HeldSockets | Exception:
    """One socket's result of a batch script: its user's state before, or its failure."""
    if len(result) == 1:  # {err}: this socket's change failed
        return ResponseError(_text(result[0]))
    fields, seen = result
    return _held(user_id, fields, seen)


def _held(user_id: int, fields: Sequence[bytes | str], seen: bytes | str | None) -> HeldSockets:
    sockets = frozenset(Socket(*_text(field).split(" ", 1)) for field in fields)
    return HeldSockets(user_id, sockets, from_ms(seen) if seen is not None else None)


@dataclass(frozen=True, slots=True)
class Reaped:
    last_heartbeat: datetime
    done: bool  # the instance has no socket left; it is forgotten
    before: list[HeldSockets]  # the users whose sockets were dropped, as they were


class RedisPresence:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}{{presence}}:"
        self._instances = self._prefix + "instances"
        self._reaping = self._prefix + "reaping"
        self._seen = self._prefix + "seen"
        self._connect = redis.register_script(_CONNECT_EACH)
        self._disconnect = redis.register_script(_DISCONNECT_EACH)
        self._beat = redis.register_script(_BEAT)
        self._bury = redis.register_script(_BURY)
        self._reap = redis.register_script(_REAP)
        self._disconnecting = Coalesced(self._disconnect_each)

    def _user(self, user_id: int) -> str:
        return f"{self._prefix}user:{user_id}"

    def _inst(self, instance_id: str) -> str:
        return f"{self._prefix}inst:{instance_id}"

    async def beat(self, instance_id: str, now: datetime, *, first: bool) -> bool:
        """Record a heartbeat; False if the instance was declared dead meanwhile."""
        args: list[str | int] = [instance_id, to_ms(now), "1" if first else "0"]
        return bool(await self._beat(keys=[self._instances], args=args))

    async def connect_many(self, sockets: Sequence[tuple[int, Socket]]) -> list[HeldSockets | None]:
        """Hold each socket, in order, in one script call: each user's state before, or
        None where the socket's instance is not registered (nothing was held); raises the
        first failure."""
        return _raise_first(await self.connect_each(sockets))

    async def connect_each(
        self, sockets: Sequence[tuple[int, Socket]]
    ) -> list[HeldSockets | Exception | None]:
        """`connect_many`, with each socket's outcome (an exception where its own change
        failed: one broken key fails only its socket)."""
        keys = [self._instances, self._seen]
        args: list[str | int] = []
        for user_id, socket in sockets:
            keys += [self._user(user_id), self._inst(socket.instance_id)]
            args += [socket.instance_id, _field(socket), user_id]
        results = await self._connect(keys=keys, args=args)
        return [
            None if result is None else _held_or_failure(user_id, result)
            for (user_id, _), result in zip(sockets, results, strict=True)
        ]

    async def disconnect(self, user_id: int, socket: Socket, now: datetime) -> HeldSockets:
        """Let go of `socket` (closed at `now`); the user's state before. Sockets closing in
        the same turn of the event loop are let go of by one script call; a socket whose
        change fails fails only its own call."""
        return await self._disconnecting((user_id, socket, now))

    async def _disconnect_each(
        self, sockets: Sequence[tuple[int, Socket, datetime]]
    ) -> list[HeldSockets | Exception]:
        keys = [self._seen]
        args: list[str | int] = []
        for user_id, socket, now in sockets:
            keys += [self._user(user_id), self._inst(socket.instance_id)]
            args += [socket.instance_id, _field(socket), user_id, to_ms(now)]
        results = await self._disconnect(keys=keys, args=args)
        return [
            _held_or_failure(user_id, result)
            for (user_id, _, _), result in zip(sockets, results, strict=True)
        ]

    async def heartbeats(self) -> dict[str, datetime]:
        """Every registered instance's last heartbeat."""
        return await self._scores(self._instances)

    async def bury(self, instances: Mapping[str, datetime]) -> list[str]:
        """Declare dead those of `instances` that have not beaten since the heartbeat
        given (several sweepers may try; one succeeds); they go to be reaped."""
        if not instances:
            return []
        args: list[str | int] = []
        for instance, beat in instances.items():
            args += [instance, to_ms(beat)]
        buried = await self._bury(keys=[self._instances, self._reaping], args=args)
        return [_text(instance) for instance in buried]

    async def being_reaped(self) -> dict[str, datetime]:
        return await self._scores(self._reaping)

    async def _scores(self, key: str) -> dict[str, datetime]:
        entries = cast(
            list[tuple[bytes, float]], await self._redis.zrange(key, 0, -1, withscores=True)
        )
        return {_text(instance): from_ms(score) for instance, score in entries}

    async def reap(self, instance_id: str, *, chunk: int) -> Reaped | None:
        """Drop the sockets of up to `chunk` more users of a dead instance; None once
        it is no longer being reaped (another sweeper finished it)."""
        keys = [self._reaping, self._inst(instance_id), self._seen]
        args: list[str | int] = [instance_id, chunk, self._prefix + "user:"]
        result = await self._reap(keys=keys, args=args)
        if result is None:
            return None
        beat, done, reaped = result
        return Reaped(
            last_heartbeat=from_ms(beat),
            done=bool(done),
            before=[_held(int(user), fields, seen) for user, fields, seen in reaped],
        )

    async def held(self, user_ids: Sequence[int]) -> dict[int, HeldSockets]:
        """What is held for each user, read at one moment."""
        if not user_ids:
            return {}
        async with self._redis.pipeline(transaction=True) as pipe:
            for user_id in user_ids:
                pipe.hkeys(self._user(user_id))
            pipe.hmget(self._seen, [str(user_id) for user_id in user_ids])
            *fields, seen = await pipe.execute()
        return {
            user_id: _held(user_id, held, last)
            for user_id, held, last in zip(user_ids, fields, seen, strict=True)
        }


T = TypeVar("T")


def _raise_first(results: list[T | Exception]) -> list[T]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return cast(list[T], results)
