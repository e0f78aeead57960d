"""The Redis online store: a Redis server (the target's online `url`, default `redis://127.0.0.1:6379/0`).

Layout: one string per entity, named `fc:<project>:<view>:` followed by the encoded entity key
(`keys.py`, raw bytes). Its value is a 16-byte head - the row's event time, then its created time, each
as 8 bytes big-endian of microseconds since the epoch with the sign bit flipped (so the bytes order like
the times; a NULL created time is 8 zero bytes, lower than any time) - then the row's features as one
record (`records.py`). The view's state is the hash
`fc:<project>:__state__:<view>`; it also holds each record layout written for the view, as fields
`layout:<id in hex>`, so a record written before a feature was added still reads.

Writes: a Lua script, loaded once (`SCRIPT LOAD`, called by `EVALSHA`; loaded again if the server forgot
it), takes up to CHUNK_KEYS entities per call and, for each, reads the stored head (`GETRANGE 0 15`),
compares it with the incoming one as four 32-bit words (exact: Lua's numbers are doubles) and writes the
value (`SET`) only when the incoming row is newer or equal. Redis runs a script atomically, so newer-wins
holds per key whatever else writes. A batch is deduplicated first (keeping the newest row per key) and
its chunks are pipelined after the layout (`HSET`). The commands' bytes - keys and values as RESP bulk
strings - are built by Arrow and numpy kernels, a slice of the batch at a time while Redis runs the
slice before; no Python code runs per row. One argument per entity keeps the script's work small (the
server measured 3-4x less time per key than with a hash of one field per feature). A lost connection is
opened again and the commands sent once more (harmless: newer-wins). A single Redis server is supported,
not Redis Cluster (a script's keys must share a slot there). Keys written by fcompile before this layout
(one hash per entity) read as not found, and are replaced when written again.

`write_batches` (a push to several views) sends the same commands inside one MULTI/EXEC transaction. The
materialization lock is the key `fc:<project>:__materialize_lock__` (`materialization_lock`).

Reads: one `MGET` for all the entities asked, on a connection the store keeps; redis-py parses the reply
with hiredis when it is installed (the `redis` extra installs it).
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from fcompile.connection_text import describe_connection, driver_reason
from fcompile.online.base import (
    KEY_SCAN_CHUNK, OnlineView, RecordDecodingStore, StoredRow, StoreFailure, ViewState, materialization_busy,
    store_failed, store_unreachable, unknown_features, views_text,
)
from fcompile.online.batches import prepare_batch
from fcompile.online.keys import KeyMismatch, encode_keys, key_encoder, key_mismatch
from fcompile.online.records import RecordLayout, UnknownLayout, encode_records, record_decoder
from fcompile.online.values import (
    arrow_cast, arrow_compute, as_utc, datetime_from_micros, filled, micros, numpy_of, typed_scalar,
)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
CHUNK_KEYS = 500            # entities per script call: Redis runs one call at a time, so keep it short (~0.5 ms)
SEND_ROWS = 8192            # entities whose commands are built, then sent, while Redis runs the ones before
READ_CHUNK = 10_000         # entities per MGET
SEND_BYTES = 64 * 1024      # commands are sent to the server in pieces of about this size
CONNECT_TIMEOUT_SECONDS = 5.0
TIMEOUT_SECONDS = 60.0      # for a reply
STATE_FIELDS = ("watermark", "last_run_at", "last_window_start", "rows_read", "keys_written")
HEAD = struct.Struct(">QQ")  # a value's event and created time, sign-flipped
_SIGN = 1 << 63

# KEYS: the entities' keys. ARGV: their values, in KEYS order (a 16-byte head, then the record).
WRITE_NEWER_SCRIPT = """
local written = 0
for i = 1, #KEYS do
  local value = ARGV[i]
  local stored = redis.pcall('GETRANGE', KEYS[i], 0, 15)
  local newer = true
  -- a key of another type (an earlier fcompile's hash) is replaced
  if type(stored) == 'string' and #stored == 16 then
    -- the heads as four unsigned 32-bit words each, compared in order: exact, unlike 64-bit numbers
    local a1, a2, a3, a4 = struct.unpack('>I4I4I4I4', value)
    local b1, b2, b3, b4 = struct.unpack('>I4I4I4I4', stored)
    if a1 ~= b1 then newer = a1 > b1
    elseif a2 ~= b2 then newer = a2 > b2
    elseif a3 ~= b3 then newer = a3 > b3
    else newer = a4 >= b4 end
  end
  if newer then
    redis.call('SET', KEYS[i], value)
    written = written + 1
  end
end
return written
"""


_URL_HINT = ("write it as redis://[:password@]host[:port][/db], rediss:// for TLS, or unix:///path/to/socket; "
             "percent-encode '/', '?', '#', '@' and '%' in a password (%2F, %3F, %23, %40, %25)")
LOCK_KEY = b"__materialize_lock__"  # after fc:<project>: - no view's keys (fc:<project>:<view>:...) look like it
LOCK_SECONDS = 30.0                  # the materialization lock's expiry (a killed run frees it after this long)
# KEYS: the lock. ARGV: this run's token, and (renewal) the expiry in milliseconds. Only the holder's token acts.
RENEW_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisOnlineStore(RecordDecodingStore):
    type_name = "redis"
    default_location = f"{DEFAULT_URL} (the default)"

    def __init__(self, client: Any, url: str, project: str, lock_seconds: float = LOCK_SECONDS) -> None:
        self.client = client
        self.url = url
        self.project = project
        self.lock_seconds = lock_seconds
        self._prefix = f"fc:{project}:".encode()
        self._sha = client.script_load(WRITE_NEWER_SCRIPT)
        self._connection = client.connection_pool.get_connection()  # kept: no pool round trip per read
        self._views: dict[int, _View] = {}

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project: str, project_root: str) -> RedisOnlineStore:
        url = str(settings.get("url") or DEFAULT_URL)
        shown = describe_connection(url)
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
            raise store_unreachable("Redis", shown, f"the URL is not valid: {driver_reason(exc, url)}",
                                    _URL_HINT) from None
        lock_seconds = _positive_seconds(settings.get("materialize_lock_seconds", LOCK_SECONDS))
        if lock_seconds is None:
            client.close()
            raise store_unreachable("Redis", shown, "materialize_lock_seconds must be a positive number of seconds",
                                    f"e.g. materialize_lock_seconds: {LOCK_SECONDS:g} (the default)")
        try:
            client.ping()
            return cls(client, url, project, lock_seconds)
        except (ValueError, TypeError) as exc:  # an option of the URL's query redis-py only reads when connecting
            client.close()
            raise store_unreachable("Redis", shown, f"the URL is not valid: {driver_reason(exc, url)}",
                                    _URL_HINT) from None
        except redis.AuthenticationError as exc:
            client.close()
            raise store_unreachable("Redis", shown, driver_reason(exc, url),
                                    "check the password in the target's online url "
                                    "(use {{ env_var('REDIS_URL') }} for secrets)") from None
        except redis.RedisError as exc:
            client.close()
            raise store_unreachable("Redis", shown, driver_reason(exc, url),
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
            self._send(lambda: self._write_commands(target, prepared), doing)
        except redis.exceptions.NoScriptError:  # the server restarted or was flushed since we connected
            try:
                self._sha = self.client.script_load(WRITE_NEWER_SCRIPT)
                self._send(lambda: self._write_commands(target, prepared), doing)
            except redis.RedisError as exc:
                raise self._failed(doing, exc) from None
        return prepared.rows

    def write_batches(self, writes: Sequence[tuple[OnlineView, Any]]) -> list[int]:
        """The batches of several views in one MULTI/EXEC transaction: Redis runs it whole, with no other
        client's command in between, or - when the connection is lost before EXEC - not at all. A command
        of the transaction that fails inside EXEC does not undo the others: then `StoreFailure.written`
        names the views whose every command succeeded."""
        import redis

        prepared = [(view, prepare_batch(view, batch)) for view, batch in writes]
        rows = [p.rows for _, p in prepared]
        todo = [(self._view(view), p) for view, p in prepared if len(p)]
        if not todo:
            return rows
        names = [target.view.name for target, _ in todo]
        doing = "writing " + views_text(names)
        spans: list[int] = []  # commands per view inside the transaction, in order

        def commands() -> Iterator[bytes]:
            spans.clear()
            yield _command(b"MULTI")
            for target, batch in todo:
                spans.append(0)
                for command in self._write_commands(target, batch):
                    spans[-1] += 1
                    yield command
            yield _command(b"EXEC")

        for attempt in (1, 2):
            results = self._send(commands, doing)[-1]
            missing = any(isinstance(r, redis.exceptions.NoScriptError) for r in results)
            if missing and attempt == 1:  # the server restarted or was flushed since we connected: no view's
                try:                      # rows were written (every script call failed alike)
                    self._sha = self.client.script_load(WRITE_NEWER_SCRIPT)
                except redis.RedisError as exc:
                    raise self._failed(doing, exc) from None
                continue
            failures, written, start = [], [], 0
            for name, count in zip(names, spans):
                errors = [r for r in results[start:start + count] if isinstance(r, Exception)]
                start += count
                if errors:
                    failures.append(errors[0])
                else:
                    written.append(name)
            if not failures:
                return rows
            failure = self._failed(doing, failures[0])
            raise StoreFailure(failure.diagnostics, written) from None
        raise AssertionError("unreachable")

    def _write_commands(self, target: _View, prepared) -> Iterator[bytes]:
        """The view's layout (HSET), then the batch's script calls, built a slice of SEND_ROWS entities
        at a time: sending one slice while building the next lets Redis work while Python does."""
        layout = target.layout
        yield _command(b"HSET", self._state_key(target.view.name), b"layout:" + layout.id.hex().encode(),
                       layout.json.encode())
        sha = self._sha.encode() if isinstance(self._sha, str) else self._sha
        for start in range(0, len(prepared), SEND_ROWS):
            yield from _script_calls(sha, target, prepared.slice(start, SEND_ROWS))

    def _send(self, commands: Callable[[], Iterable[bytes]], doing: str) -> list[Any]:
        """Sends the packed commands on the store's connection as they come, then reads their replies, in
        order, one per command. A lost connection is opened again and the commands sent once more (reads
        and newer-wins writes can be repeated). A script the server does not know raises NoScriptError
        once every reply is read."""
        import redis

        for attempt in (1, 2):
            connection = self._connection
            try:
                sent, waiting, size = 0, [], 0
                for command in commands():  # sent in pieces of about SEND_BYTES: few system calls, bounded memory
                    waiting.append(command)
                    size += len(command)
                    sent += 1
                    if size >= SEND_BYTES:
                        connection.send_packed_command([b"".join(waiting)], check_health=False)
                        waiting, size = [], 0
                if waiting:
                    connection.send_packed_command([b"".join(waiting)], check_health=False)
                found, missing_script, failure = [], None, None
                for _ in range(sent):
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
        return store_failed(f"Redis ({describe_connection(self.url)})", doing, error)

    # -- reads -------------------------------------------------------------------------------------

    def _read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]], features: Sequence[str],
              as_tuples: bool) -> list:
        return self._read_together([(view, keys, features)], as_tuples)[0]

    def read_many(self, reads: Sequence[tuple[OnlineView, Sequence[Any], Sequence[str], bool]]) -> list[list]:
        """One round trip, however many reads (views, requests) there are."""
        return self._read_together([(view, list(zip(keys)) if of_key else keys, features)
                                    for view, keys, features, of_key in reads], True)

    def _read_together(self, reads: Sequence[tuple[OnlineView, Sequence[tuple[Any, ...]], Sequence[str]]],
                       as_tuples: bool) -> list[list]:
        """`_read` of each (view, keys, features), their MGETs sent together: one round trip."""
        asking = []  # per read: (the key names, None where a key holds a NULL; those asked; decode)
        commands: list[bytes] = []
        for view, keys, features in reads:
            target = self._views.get(id(view))
            if target is None or target.view is not view:
                target = self._view(view)
            wanted = features if isinstance(features, tuple) else tuple(features)
            decode = target.readers.get((wanted, as_tuples))
            if decode is None:
                decode = self._reader(target, wanted, as_tuples)
            prefix, encode = target.prefix, target.encode
            try:
                names = [None if e is None else prefix + e for e in map(encode, keys)]
            except (KeyMismatch, TypeError) as exc:
                raise key_mismatch(view.name, view.keys, str(exc)) from None
            asked = names if names.count(None) == 0 else [name for name in names if name is not None]
            asking.append((names, asked, decode))
            commands += (_command(b"MGET", *asked[i:i + READ_CHUNK]) for i in range(0, len(asked), READ_CHUNK))
        doing = _reading(reads)
        replies = iter(self._send(lambda: commands, doing) if commands else ())
        convert = _values if as_tuples else _stored
        found = []
        try:
            for names, asked, decode in asking:
                if not asked:
                    found.append([None] * len(names))
                    continue
                values = next(replies) if len(asked) <= READ_CHUNK else \
                    [v for _ in range(0, len(asked), READ_CHUNK) for v in next(replies)]
                if len(asked) == len(names):
                    found.append([None if value is None else convert(value, decode) for value in values])
                else:
                    stored = iter(values)
                    found.append([None if name is None else _or_none(next(stored), decode, convert) for name in names])
        except UnknownLayout as exc:
            raise self._failed(doing, exc) from None
        return found

    def _reader(self, target: _View, features: tuple[str, ...], as_tuples: bool) -> Callable[..., Any]:
        problem = unknown_features(target.view, features)
        if problem is not None:
            raise problem
        state_key = self._state_key(target.view.name)

        def lookup(layout_id: bytes) -> bytes | None:
            import redis

            try:
                return self.client.hget(state_key, b"layout:" + layout_id.hex().encode())
            except redis.RedisError as exc:
                raise self._failed(f"reading feature view '{target.view.name}'", exc) from None

        decode = target.readers[(features, as_tuples)] = record_decoder(target.layout, features, lookup, as_tuples)
        return decode

    # -- key scans --------------------------------------------------------------------------------

    def stored_keys(self, view: OnlineView, chunk: int = KEY_SCAN_CHUNK) -> Iterator[list[bytes]]:
        """SCAN over `fc:<project>:<view>:*` (the prefix glob-escaped), `chunk` as SCAN's COUNT hint; each
        call's keys, their prefix cut off, in lists of at most `chunk`."""
        import redis

        prefix = self._prefix + view.name.encode() + b":"
        pattern = _glob_escape(prefix) + b"*"
        cursor: int | bytes = 0
        doing = f"listing the keys of feature view '{view.name}'"
        while True:
            try:
                cursor, found = self.client.scan(cursor=cursor, match=pattern, count=chunk)
            except redis.RedisError as exc:
                raise self._failed(doing, exc) from None
            keys = [key[len(prefix):] for key in found]
            for start in range(0, len(keys), chunk):
                yield keys[start:start + chunk]
            if int(cursor) == 0:
                return

    # -- deletes ----------------------------------------------------------------------------------

    def delete_keys(self, view: OnlineView, keys: Sequence[tuple[Any, ...]]) -> list[bool]:
        target = self._view(view)
        names = [None if e is None else target.prefix + e
                 for e in encode_keys(target.encode, keys, view.name, view.keys)]
        asked = [name for name in names if name is not None]
        if not asked:
            return [False] * len(names)
        # one DEL per key (its reply says whether the key was there), in one MULTI/EXEC: all or nothing
        replies = self._send(lambda: (_command(b"MULTI"), *(_command(b"DEL", name) for name in asked),
                                      _command(b"EXEC")), f"deleting keys of feature view '{view.name}'")
        found = iter(replies[-1])
        return [name is not None and bool(next(found)) for name in names]

    # -- state -------------------------------------------------------------------------------------

    def get_state(self, view: str) -> ViewState | None:
        import redis

        try:
            found = self.client.hmget(self._state_key(view), STATE_FIELDS)
        except redis.RedisError as exc:
            raise self._failed(f"reading the state of feature view '{view}'", exc) from None
        if all(v is None for v in found):
            return None
        stamps = [datetime_from_micros(int(v)) if v else None for v in found[:3]]
        return ViewState(stamps[0], stamps[1], stamps[2], rows_read=int(found[3] or 0), keys_written=int(found[4] or 0))

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
            self.client.delete(self._state_key(view))  # the state and the layouts
        except redis.RedisError as exc:
            raise self._failed(f"dropping feature view '{view}'", exc) from None

    @contextlib.contextmanager
    def materialization_lock(self):
        """The key `fc:<project>:__materialize_lock__`, set only if absent (`SET NX`) to a token of this run
        with an expiry of `materialize_lock_seconds`; a thread renews it every third of that while the run
        lives, and the end of the run deletes it - each only while it still holds this run's token. A run
        killed with SIGKILL leaves it to expire."""
        import threading
        import uuid

        import redis

        key, token = self._prefix + LOCK_KEY, uuid.uuid4().hex.encode()
        lasts = max(1, int(self.lock_seconds * 1000))
        try:
            taken = self.client.set(key, token, nx=True, px=lasts)
        except redis.RedisError as exc:
            raise self._failed("taking the materialization lock", exc) from None
        if not taken:
            raise materialization_busy(f"the Redis online store at {describe_connection(self.url)}", self.project,
                                       f"a run that was killed leaves it to expire, within {self.lock_seconds:g} s "
                                       "(the target's online materialize_lock_seconds)")
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.lock_seconds / 3):
                try:
                    self.client.eval(RENEW_LOCK_SCRIPT, 1, key, token, lasts)
                except redis.RedisError:
                    pass  # tried again a third of the expiry later

        renewer = threading.Thread(target=renew, name="fcompile-materialize-lock", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                self.client.eval(RELEASE_LOCK_SCRIPT, 1, key, token)
            except redis.RedisError:
                pass  # it expires by itself

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
            target = _View(view, self._prefix + view.name.encode() + b":", key_encoder([d for _, d in view.keys]),
                           RecordLayout(view.features))
            self._views[id(view)] = target
        return target

    def _state_key(self, view: str) -> bytes:
        return self._prefix + b"__state__:" + view.encode()


@dataclass(eq=False)
class _View:
    view: OnlineView
    prefix: bytes                                   # fc:<project>:<view>:
    encode: Callable[[Sequence[Any]], bytes | None]
    layout: RecordLayout
    readers: dict[tuple[tuple[str, ...], bool], Callable[..., Any]] = field(default_factory=dict)


def _positive_seconds(value: Any) -> float | None:
    """`value` (a number, or text from env_var) as a positive finite number of seconds, else None."""
    import math

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _stored(value: bytes, decode: Callable[..., dict[str, Any]]) -> StoredRow:
    event, created = HEAD.unpack_from(value)
    return StoredRow(decode(value, HEAD.size), datetime_from_micros(event - _SIGN),
                     datetime_from_micros(created - _SIGN) if created else None)


def _values(value: bytes, decode: Callable[..., tuple]) -> tuple:
    """`OnlineStore.read_values`' form of a stored value: (event time in microseconds, values...)."""
    return (HEAD.unpack_from(value)[0] - _SIGN, *decode(value, HEAD.size))


def _reading(reads: Sequence[tuple[OnlineView, Any, Any]]) -> str:
    """What reads of these (view, ...) are doing, for a failure's message (made on every read: one view's is
    one f-string)."""
    if len(reads) == 1:
        return f"reading feature view '{reads[0][0].name}'"
    names = list(dict.fromkeys(view.name for view, *_ in reads))
    return f"reading feature view{'s' if len(names) > 1 else ''} " + ", ".join(f"'{name}'" for name in names)


def _or_none(value: bytes | None, decode: Callable[..., Any], convert: Callable[..., Any]) -> Any:
    return None if value is None else convert(value, decode)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _command(*arguments: bytes) -> bytes:
    """One command in RESP, ready to send."""
    return b"*%d\r\n" % len(arguments) + b"".join([_bulk(a) for a in arguments])


def _glob_escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)


# -- writes, vectorized ----------------------------------------------------------------------------------

def _heads(prepared):
    """Each row's 16-byte head as a (rows, 16) byte matrix: event, then created (zero when NULL)."""
    import numpy as np

    rows = len(prepared)
    heads = np.zeros((rows, 2), dtype=">u8")
    heads[:, 0] = numpy_of(prepared.event_us).view(np.uint64) ^ np.uint64(_SIGN)
    created = prepared.created_us
    if created.null_count < rows:
        flipped = numpy_of(filled(created, 0)).view(np.uint64) ^ np.uint64(_SIGN)
        if created.null_count:
            flipped[numpy_of(arrow_compute("is_null", created))] = 0
        heads[:, 1] = flipped
    return heads.view(np.uint8).reshape(rows, HEAD.size)


def _bulk_strings(values):
    """Each value (binary, no NULLs) as a RESP bulk string, `$<length>\\r\\n<value>\\r\\n`."""
    import pyarrow as pa

    lengths = arrow_cast(arrow_cast(arrow_compute("binary_length", values), pa.string()), pa.binary())
    return arrow_compute("binary_join_element_wise", typed_scalar(b"$", pa.binary()), lengths,
                         typed_scalar(b"\r\n", pa.binary()), values, typed_scalar(b"\r\n", pa.binary()),
                         typed_scalar(b"", pa.binary()))


def _script_calls(sha: bytes, target: _View, prepared) -> list[bytes]:
    """The batch as packed EVALSHA commands of up to CHUNK_KEYS entities each: the keys, then the values."""
    import pyarrow as pa

    names = _bulk_strings(arrow_compute("binary_join_element_wise", typed_scalar(target.prefix, pa.binary()),
                                        prepared.keys, typed_scalar(b"", pa.binary())))
    values = _bulk_strings(encode_records(target.layout, prepared.features, len(prepared), head=_heads(prepared)))
    sha_argument = _bulk(sha)
    (key_offsets, key_data), (value_offsets, value_data) = [(_offsets(a), memoryview(a.buffers()[2]))
                                                            for a in (names, values)]
    commands = []
    rows = len(prepared)
    for start in range(0, rows, CHUNK_KEYS):
        end = min(start + CHUNK_KEYS, rows)
        count = end - start
        commands.append(b"".join([b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + 2 * count), sha_argument,
                                  _bulk(str(count).encode()), key_data[key_offsets[start]:key_offsets[end]],
                                  value_data[value_offsets[start]:value_offsets[end]]]))
    return commands


def _offsets(array):
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
