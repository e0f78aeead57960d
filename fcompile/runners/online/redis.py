"""The Redis online store: a Redis server (the target's online `url`, default `redis://127.0.0.1:6379/0`).

Layout: one hash per entity, named `fc:<project>:<view>:` followed by the encoded entity key
(`keys.py`, raw bytes). Its fields: `__ts` and `__created` (the row's event and created time), then one
field per feature. The view's state is the hash `fc:<project>:__state__:<view>`.

Every field value is a byte string; the empty string is NULL, for every dtype:

| dtype                  | value                                                                     |
| ---------------------- | ------------------------------------------------------------------------- |
| int32, int64           | decimal digits (`-42`)                                                    |
| float32, float64       | the shortest decimal that reads back as the same double (`0.1`, `1e+300`, |
|                        | `nan`, `inf`, `-inf`); a float32 is widened first                         |
| bool                   | `1` or `0`                                                                |
| date                   | days since 1970-01-01, decimal                                            |
| timestamp, `__ts`,     | microseconds since 1970-01-01 UTC, decimal                                |
| `__created`            |                                                                           |
| string, bytes, array   | `=` then the UTF-8 text, the bytes, or the array as JSON (values.py)      |

The `=` keeps a non-NULL empty string apart from NULL.

Writes: a Lua script, loaded once (`SCRIPT LOAD`, called by `EVALSHA`; loaded again if the server
forgot it), takes up to CHUNK_KEYS entities per call and, for each, compares the stored (`__ts`,
`__created`) with the incoming one - exactly, as decimal integers; an empty created time is the
lowest - and writes the hash only when the incoming row is newer or equal. Redis runs a script
atomically, so newer-wins holds per key whatever else writes. A batch is deduplicated first (keeping
the newest row per key) and its chunks are pipelined. The command text - for each entity the HSET
arguments as they are, which the script passes on with `unpack` - is built by Arrow kernels, a slice of
the batch at a time while Redis runs the slice before; no Python code runs per row. A lost connection
is opened again and the commands sent once more (harmless: newer-wins). A single Redis server is
supported, not Redis Cluster (a script's keys must share a slot there).

Reads: `HMGET` of `__ts`, `__created` and the features, one command per entity, pipelined, on a
connection the store keeps. redis-py parses the replies with hiredis when it is installed (the `redis`
extra installs it): about 2.5x faster for many entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from fcompile.runners.online.base import (
    OnlineStore, OnlineView, StoredRow, ViewState, redact_url, store_failed, store_unreachable, unknown_features,
)
from fcompile.runners.online.batches import prepare_batch
from fcompile.runners.online.keys import KeyMismatch, key_encoder, key_mismatch
from fcompile.runners.online.values import (
    array_from_json, arrays_as_json, as_utc, date_from_days, datetime_from_micros, micros, to_micros,
)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
CHUNK_KEYS = 200            # entities per script call: Redis runs one call at a time (~2 ms), so keep it short
SEND_ROWS = 8192            # entities whose commands are built, then sent, while Redis runs the ones before
CONNECT_TIMEOUT_SECONDS = 5.0
TIMEOUT_SECONDS = 60.0      # for a reply
STATE_FIELDS = ("watermark", "last_run_at", "last_window_start", "rows_read", "keys_written")

# KEYS: the entities' hashes (n). ARGV: the width w of one entity's arguments, then for each entity, in
# KEYS order, w arguments: `__ts`, its event time, `__created`, its created time, then each feature's field
# name and value - the HSET arguments as they are.
WRITE_NEWER_SCRIPT = """
local width = tonumber(ARGV[1])

-- compares two decimal integers exactly (doubles are exact only up to 2^53); '' is the lowest
local function compare(a, b)
  if a == b then return 0 end
  if a == '' then return -1 end
  if b == '' then return 1 end
  local x, y = tonumber(a), tonumber(b)
  if x ~= y then
    if x < y then return -1 else return 1 end
  end
  local negative = string.sub(a, 1, 1) == '-'
  if negative then a, b = string.sub(a, 2), string.sub(b, 2) end
  local order
  if #a ~= #b then
    if #a < #b then order = -1 else order = 1 end
  else
    local high_a, high_b = tonumber(string.sub(a, 1, 9)), tonumber(string.sub(b, 1, 9))
    if high_a ~= high_b then
      if high_a < high_b then order = -1 else order = 1 end
    elseif tonumber(string.sub(a, 10)) < tonumber(string.sub(b, 10)) then order = -1
    else order = 1 end
  end
  if negative then order = -order end
  return order
end

local written = 0
for i = 1, #KEYS do
  local first = 2 + (i - 1) * width
  local stored = redis.call('HMGET', KEYS[i], '__ts', '__created')
  local newer = true
  if stored[1] then
    local order = compare(ARGV[first + 1], stored[1])
    if order < 0 or (order == 0 and compare(ARGV[first + 3], stored[2] or '') < 0) then newer = false end
  end
  if newer then
    redis.call('HSET', KEYS[i], unpack(ARGV, first, first + width - 1))
    written = written + 1
  end
end
return written
"""


class RedisOnlineStore(OnlineStore):
    type_name = "redis"

    def __init__(self, client: Any, url: str, project: str) -> None:
        self.client = client
        self.url = url
        self.project = project
        self._prefix = f"fc:{project}:".encode()
        self._sha = client.script_load(WRITE_NEWER_SCRIPT)
        self._connection = client.connection_pool.get_connection()  # kept: no pool round trip per read
        self._views: dict[int, _View] = {}

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project: str, project_root: str) -> RedisOnlineStore:
        url = str(settings.get("url") or DEFAULT_URL)
        shown = redact_url(url)
        try:
            import redis
        except ImportError:
            raise store_unreachable("Redis", shown, "the Python package 'redis' is not installed",
                                    "pip install 'fcompile[redis]'") from None
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=float(settings.get("connect_timeout",
                                                                                         CONNECT_TIMEOUT_SECONDS)),
                                          socket_timeout=float(settings.get("timeout", TIMEOUT_SECONDS)))
        except (ValueError, TypeError) as exc:
            raise store_unreachable("Redis", shown, f"the URL is not valid: {exc}",
                                    "write it as redis://[:password@]host[:port][/db], rediss:// for TLS, or "
                                    "unix:///path/to/socket") from None
        try:
            client.ping()
            return cls(client, url, project)
        except redis.AuthenticationError as exc:
            client.close()
            raise store_unreachable("Redis", shown, str(exc), "check the password in the target's online url "
                                    "(use {{ env_var('REDIS_URL') }} for secrets)") from None
        except redis.RedisError as exc:
            client.close()
            raise store_unreachable("Redis", shown, str(exc).strip() or type(exc).__name__,
                                    "is the Redis server running and is the target's online url right? "
                                    "(e.g. redis://127.0.0.1:6379/0)") from None

    # -- writes ------------------------------------------------------------------------------------

    def write_batch(self, view: OnlineView, batch: Any) -> int:
        import redis

        prepared = prepare_batch(view, batch)
        if not len(prepared):
            return prepared.rows
        target = self._view(view)
        doing = f"writing feature view '{view.name}'"
        try:
            self._send(lambda: self._script_calls(target, prepared), doing)
        except redis.exceptions.NoScriptError:  # the server restarted or was flushed since we connected
            try:
                self._sha = self.client.script_load(WRITE_NEWER_SCRIPT)
                self._send(lambda: self._script_calls(target, prepared), doing)
            except redis.RedisError as exc:
                raise self._failed(doing, exc) from None
        return prepared.rows

    def _script_calls(self, target: _View, prepared) -> Iterator[bytes]:
        """The batch's script calls, built a slice of SEND_ROWS entities at a time: sending one slice
        while building the next lets Redis work while Python does."""
        for start in range(0, len(prepared), SEND_ROWS):
            yield from _script_calls(self._sha, target, prepared.slice(start, SEND_ROWS))

    def _send(self, commands: Callable[[], Iterable[bytes]], doing: str, replies: int | None = None) -> list[Any]:
        """Sends the packed commands on the store's connection as they come, then reads their replies, in
        order: one per command, or `replies` in all (several commands packed in one). A lost connection is
        opened again and the commands sent once more (reads and newer-wins writes can be repeated). A
        script the server does not know raises NoScriptError once every reply is read."""
        import redis

        for attempt in (1, 2):
            connection = self._connection
            try:
                sent = 0
                for command in commands():
                    connection.send_packed_command([command], check_health=False)
                    sent += 1
                found, missing_script, failure = [], None, None
                for _ in range(sent if replies is None else replies):
                    try:
                        found.append(connection.read_response())
                    except redis.exceptions.NoScriptError as exc:
                        missing_script = exc
                        found.append(None)
                    except redis.ResponseError as exc:
                        failure = failure or exc
                        found.append(None)
            except redis.ConnectionError as exc:
                connection.disconnect()  # the next send connects again
                if attempt == 2:
                    raise self._failed(doing, exc) from None
                continue
            except redis.RedisError as exc:
                connection.disconnect()
                raise self._failed(doing, exc) from None
            except BaseException:
                connection.disconnect()  # replies may be pending: never reuse the connection half-read
                raise
            if failure is not None:
                raise self._failed(doing, failure) from None
            if missing_script is not None:
                raise missing_script
            return found
        raise AssertionError("unreachable")

    def _failed(self, doing: str, error: Exception):
        return store_failed(f"Redis ({redact_url(self.url)})", doing, error)

    # -- reads -------------------------------------------------------------------------------------

    def read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
             features: Sequence[str]) -> list[StoredRow | None]:
        target = self._views.get(id(view))
        if target is None or target.view is not view:
            target = self._view(view)
        wanted = features if isinstance(features, tuple) else tuple(features)
        reader = target.readers.get(wanted)
        if reader is None:
            reader = target.readers[wanted] = _reader(view, wanted)
        prefix = target.prefix
        try:
            names = [None if e is None else prefix + e for e in map(target.encode, keys)]
        except (KeyMismatch, TypeError) as exc:
            raise key_mismatch(view.name, view.keys, str(exc)) from None
        asked = [name for name in names if name is not None]
        if not asked:
            return [None] * len(names)
        head, tail = reader.head, reader.tail
        packed = b"".join([b"%s$%d\r\n%s\r\n%s" % (head, len(name), name, tail) for name in asked])
        replies = iter(self._send(lambda: (packed,), f"reading feature view '{view.name}'", len(asked)))
        stored = reader.stored
        return [None if name is None else stored(next(replies)) for name in names]

    # -- state -------------------------------------------------------------------------------------

    def get_state(self, view: str) -> ViewState | None:
        import redis

        try:
            found = self.client.hgetall(self._state_key(view))
        except redis.RedisError as exc:
            raise self._failed(f"reading the state of feature view '{view}'", exc) from None
        if not found:
            return None
        stamps = [datetime_from_micros(int(found[f.encode()])) if found.get(f.encode()) else None
                  for f in STATE_FIELDS[:3]]
        return ViewState(stamps[0], stamps[1], stamps[2], rows_read=int(found.get(b"rows_read") or 0),
                         keys_written=int(found.get(b"keys_written") or 0))

    def put_state(self, view: str, state: ViewState) -> None:
        import redis

        values = [b"" if v is None else str(micros(as_utc(v))).encode()
                  for v in (state.watermark, state.last_run_at, state.last_window_start)]
        mapping = dict(zip(STATE_FIELDS, values + [str(state.rows_read).encode(), str(state.keys_written).encode()]))
        try:
            self.client.hset(self._state_key(view), mapping=mapping)  # one command: all fields at once
        except redis.RedisError as exc:
            raise self._failed(f"saving the state of feature view '{view}'", exc) from None

    def drop_view(self, view: str) -> None:
        import redis

        for key in [k for k, v in self._views.items() if v.view.name == view]:
            del self._views[key]
        pattern = _glob_escape(self._prefix + view.encode() + b":") + b"*"
        try:
            doomed = []
            for key in self.client.scan_iter(match=pattern, count=1000):
                doomed.append(key)
                if len(doomed) >= 1000:
                    self.client.unlink(*doomed)
                    doomed.clear()
            if doomed:
                self.client.unlink(*doomed)
            self.client.delete(self._state_key(view))
        except redis.RedisError as exc:
            raise self._failed(f"dropping feature view '{view}'", exc) from None

    def close(self) -> None:
        self._views.clear()
        try:
            self.client.connection_pool.release(self._connection)
        finally:
            self.client.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _view(self, view: OnlineView) -> _View:
        target = self._views.get(id(view))
        if target is None or target.view is not view:
            target = _View(view, self._prefix + view.name.encode() + b":", key_encoder([d for _, d in view.keys]), {})
            self._views[id(view)] = target
        return target

    def _state_key(self, view: str) -> bytes:
        return self._prefix + b"__state__:" + view.encode()


@dataclass(eq=False)
class _View:
    view: OnlineView
    prefix: bytes                                   # fc:<project>:<view>:
    encode: Callable[[Sequence[Any]], bytes | None]
    readers: dict[tuple[str, ...], _Reader]


@dataclass(frozen=True, eq=False)
class _Reader:
    head: bytes     # *<args>\r\n$5\r\nHMGET\r\n  (the hash name follows)
    tail: bytes     # the packed field names
    features: tuple[str, ...]
    decoders: tuple[Callable[[bytes], Any], ...]

    def stored(self, reply: list) -> StoredRow | None:
        event = reply[0]
        if event is None:
            return None
        created = reply[1]
        values = {name: decode(raw) if raw else None
                  for name, decode, raw in zip(self.features, self.decoders, reply[2:])}
        return StoredRow(values, datetime_from_micros(int(event)),
                         datetime_from_micros(int(created)) if created else None)


def _reader(view: OnlineView, features: tuple[str, ...]) -> _Reader:
    problem = unknown_features(view, features)
    if problem is not None:
        raise problem
    dtypes = dict(view.features)
    fields = [b"__ts", b"__created"] + [f.encode() for f in features]
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(fields))
    return _Reader(head, b"".join(_bulk(f) for f in fields), features,
                   tuple(_decoder(dtypes[f]) for f in features))


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _glob_escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)


# -- values ---------------------------------------------------------------------------------------------

def _text(raw: bytes) -> str:
    return raw[1:].decode("utf-8")


def _raw_bytes(raw: bytes) -> bytes:
    return raw[1:]


def _decoder(dtype) -> Callable[[bytes], Any]:
    if dtype.is_array:
        decode = array_from_json(dtype.element)
        return lambda raw: decode(raw[1:])
    return {
        "int32": int, "int64": int, "float32": float, "float64": float, "string": _text, "bytes": _raw_bytes,
        "bool": lambda raw: raw == b"1", "date": lambda raw: date_from_days(int(raw)),
        "timestamp": lambda raw: datetime_from_micros(int(raw)),
    }[dtype.name]


def _field_values(column, dtype):
    """A feature column as the field values of the module's table: binary, b"" for NULL."""
    import pyarrow as pa
    import pyarrow.compute as pc

    marker = pa.scalar(b"=", pa.binary())
    empty = pa.scalar(b"", pa.binary())
    if dtype.is_array:
        texts = pa.array(arrays_as_json(column, dtype), pa.string()).cast(pa.binary())
        return pc.binary_join_element_wise(marker, texts, empty).fill_null(b"")
    name = dtype.name
    if name in ("int32", "int64"):
        out = column.cast(pa.string())
    elif name in ("float32", "float64"):
        out = column.cast(pa.float64()).cast(pa.string())
    elif name == "bool":
        out = pc.if_else(column, pa.scalar(b"1", pa.binary()), pa.scalar(b"0", pa.binary()))
    elif name == "date":
        out = column.cast(pa.int32()).cast(pa.string())
    elif name == "timestamp":
        out = to_micros(column).cast(pa.string())
    else:  # string, bytes
        out = pc.binary_join_element_wise(marker, column.cast(pa.binary()), empty)
    return out.cast(pa.binary()).fill_null(b"")


def _bulk_strings(values):
    """Each value (binary, no NULLs) as a RESP bulk string, `$<length>\\r\\n<value>\\r\\n`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.binary_length(values).cast(pa.string()).cast(pa.binary())
    return pc.binary_join_element_wise(pa.scalar(b"$", pa.binary()), lengths, pa.scalar(b"\r\n", pa.binary()),
                                       values, pa.scalar(b"\r\n", pa.binary()), pa.scalar(b"", pa.binary()))


def _script_calls(sha: str, target: _View, prepared) -> list[bytes]:
    """The batch as packed EVALSHA commands of up to CHUNK_KEYS entities each."""
    import pyarrow as pa
    import pyarrow.compute as pc

    view = target.view
    names = _bulk_strings(pc.binary_join_element_wise(pa.scalar(target.prefix, pa.binary()), prepared.keys,
                                                      pa.scalar(b"", pa.binary())))
    fields = [(b"__ts", prepared.event_us.cast(pa.string()).cast(pa.binary())),
              (b"__created", prepared.created_us.cast(pa.string()).cast(pa.binary()).fill_null(b""))]
    fields += [(name.encode(), _field_values(prepared.features[name], dtype)) for name, dtype in view.features]
    pieces: list[Any] = []
    for name, values in fields:  # per entity: the HSET arguments, field name and value after value
        pieces += [pa.scalar(_bulk(name), pa.binary()), _bulk_strings(values)]
    arguments = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))
    width = 2 * len(fields)
    width_argument = _bulk(str(width).encode())
    sha_argument = _bulk(sha.encode() if isinstance(sha, str) else sha)
    spans = [(_offsets(a), memoryview(a.buffers()[2])) for a in (names, arguments)]
    commands = []
    rows = len(prepared)
    for start in range(0, rows, CHUNK_KEYS):
        end = min(start + CHUNK_KEYS, rows)
        count = end - start
        parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + count + 1 + count * width), sha_argument,
                 _bulk(str(count).encode())]
        (key_offsets, key_data), (argument_offsets, argument_data) = spans
        parts += [key_data[key_offsets[start]:key_offsets[end]], width_argument,
                  argument_data[argument_offsets[start]:argument_offsets[end]]]
        commands.append(b"".join(parts))
    return commands


def _offsets(array):
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
