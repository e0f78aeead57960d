"""Small online reads answered by the protocol (protocol.py, `FeatureServer.answer_together`), in process,
on SQLite and Redis.

The protocol is uvicorn's httptools protocol as `fcompile serve` runs it, fed raw bytes through a transport
that records what is written. The small reads whose bodies complete in one turn of the event loop are
answered together at its end, all their store reads made at once (one round trip on Redis): an answer
comes once the loop has run one callback, not before, and with no ASGI cycle (the ASGI path answers from a
task, its cycle kept on the protocol). Each is compared with the ASGI path's answer to the same request,
byte for byte. The requests that must go the ASGI way after all (a read for the reader thread, a client
asking for `100-continue`, a body slower than the timeout) are answered there, and correctly.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from serving_helpers import WINDOW, redis_cleanup, write_project

pytest.importorskip("uvicorn", reason="the feature server needs the serve extra (pip install 'fcompile[serve]')")
pytest.importorskip("httptools", reason="the direct path is part of the httptools protocol")

from uvicorn.config import Config  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from fcompile.serving.app import LOOP_READ_ENTITIES, FeatureServer  # noqa: E402
from fcompile.serving.protocol import HeaderLimitsProtocol  # noqa: E402
from fcompile.serving.state import ServeConfig  # noqa: E402


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 6566)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


def request(body: bytes, *, version: bytes = b"1.1", extra: bytes = b"") -> bytes:
    return (b"POST /get-online-features HTTP/%s\r\nHost: x\r\nContent-Type: application/json\r\n%s"
            b"Content-Length: %d\r\n\r\n%s" % (version, extra, len(body), body))


def read_body(drivers: list[int], service: str = "driver_v1") -> bytes:
    return json.dumps({"entities": {"driver_id": drivers}, "feature_service": service}).encode()


def responses(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (head, body) of each whole response in `data`, in order."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        found.append((head, rest[:length]))
        data = rest[length:]
    return found


async def written(transport: RecordingTransport, done=bool, seconds: float = 4.0) -> bytes:
    """What the transport holds once `done` says so (or `seconds` have passed), the loop running meanwhile."""
    for _ in range(int(seconds / 0.01)):
        if done(bytes(transport.written)):
            break
        await asyncio.sleep(0.01)
    return bytes(transport.written)


async def asgi_answer(server: FeatureServer, body: bytes, path: str = "/get-online-features") -> tuple[int, bytes]:
    """The ASGI path's answer to a POST of `body` to `path`."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await server({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send)
    return sent[0]["status"], sent[1]["body"]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def request_store(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(request, request_store, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"direct-{request_store}")
    online = {"type": "sqlite", "path": ".fcompile/online.db"} if request_store == "sqlite" else \
        {"type": "redis", "url": request.getfixturevalue("redis_url")}
    name = write_project(root, online, {"max_request_bytes": 8192})
    yield root
    if request_store == "redis":
        redis_cleanup(request.getfixturevalue("redis_url"), name)


async def direct_answers(server: FeatureServer, protocol: HeaderLimitsProtocol, transport: RecordingTransport) -> bytes:
    """What the direct path wrote once the loop has run the callback that answers a loop iteration's reads
    together (and not before)."""
    assert not transport.written
    await asyncio.sleep(0)
    assert protocol.cycle is None  # no ASGI cycle answered
    return bytes(transport.written)


def serve(project, check, timeout: float = 10.0) -> None:
    """Run `check(server, connect)` on a started server; `connect()` gives a protocol on a new transport."""
    async def run() -> None:
        server = FeatureServer(ServeConfig(str(project), reload_interval=0, request_timeout=timeout))
        await server.start()
        try:
            status, _ = await asgi_answer(server, json.dumps(WINDOW).encode(), "/materialize")
            assert status == 200
            # the request timeout as `fcompile serve` gives it to both (the protocol's from its environment)
            protocol_class = type("Protocol", (HeaderLimitsProtocol,), {"header_timeout": timeout})
            config = Config(app=server, http=protocol_class, loop="asyncio", lifespan="off", access_log=False,
                            server_header=False, date_header=False, timeout_keep_alive=5, proxy_headers=False)
            config.load()
            state = ServerState()

            def connect() -> tuple[HeaderLimitsProtocol, RecordingTransport]:  # a new connection
                protocol = protocol_class(config=config, server_state=state, app_state={})
                transport = RecordingTransport()
                protocol.connection_made(transport)
                return protocol, transport

            await check(server, connect)
        finally:
            await server.stop()

    asyncio.run(run())


def test_a_small_read_is_answered_at_once_as_the_asgi_path_answers_it(project):
    async def check(server, connect):
        protocol, transport = connect()
        for drivers in ([1001], [1001, 1002, 9999], [1003]):
            transport.written.clear()
            protocol.data_received(request(read_body(drivers)))
            (head, body), = responses(await direct_answers(server, protocol, transport))
            assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-type: application/json" in head
            assert (200, body) == await asgi_answer(server, read_body(drivers))
            assert b"connection: close" not in head and not transport.closed
        assert json.loads(body)["results"][1]["values"] != [None]  # materialized values, not only NOT_FOUND

    serve(project, check)


def test_errors_and_requests_sent_together_are_answered_in_order(project):
    async def check(server, connect):
        protocol, transport = connect()
        bodies = [read_body([1001]), b"{not json", read_body([1002], "no_such_service"), read_body([1003])]
        protocol.data_received(b"".join(request(body) for body in bodies))  # one read holding four requests
        # each read answered alone when the next request of its connection begins, the last at the loop's turn
        assert len(responses(bytes(transport.written))) == 3
        await asyncio.sleep(0)
        answered = responses(bytes(transport.written))
        assert protocol.cycle is None
        assert [head.split(b"\r\n")[0] for head, _ in answered] == [
            b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
        for body, (_, answer) in zip(bodies, answered):
            assert (await asgi_answer(server, body))[1] == answer

    serve(project, check)


def test_http_1_0_and_a_body_in_pieces(project):
    async def check(server, connect):
        protocol, transport = connect()
        whole = request(read_body([1001]))
        protocol.data_received(whole[:-10])
        assert not transport.written  # the body is not complete
        protocol.data_received(whole[-10:])
        assert responses(await direct_answers(server, protocol, transport))[0][0].startswith(b"HTTP/1.1 200")

        protocol, transport = connect()
        protocol.data_received(request(read_body([1001]), version=b"1.0"))
        (head, _), = responses(await direct_answers(server, protocol, transport))
        assert b"connection: close" in head and transport.closed

    serve(project, check)


def test_large_reads_and_100_continue_go_the_asgi_way(project):
    async def check(server, connect):
        many = read_body(list(range(LOOP_READ_ENTITIES + 1)))  # under 32 KiB, but for the reader thread
        protocol, transport = connect()
        protocol.data_received(request(many))
        assert not transport.written
        (head, body), = responses(await written(transport))
        assert head.startswith(b"HTTP/1.1 200") and (200, body) == await asgi_answer(server, many)

        protocol, transport = connect()
        protocol.data_received(request(read_body([1001]), extra=b"Expect: 100-continue\r\n"))
        assert not transport.written
        answered = await written(transport, lambda data: b"\r\n\r\n" in data.partition(b"100 Continue\r\n\r\n")[2])
        assert answered.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")

    serve(project, check)


def test_a_body_slower_than_the_timeout_gets_the_408_of_the_asgi_path(project):
    async def check(server, connect):
        protocol, transport = connect()
        whole = request(read_body([1001]))
        protocol.data_received(whole[:-5])
        (head, body), = responses(await written(transport))
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head
        assert b"did not arrive within 0.5 s" in body

    serve(project, check, timeout=0.5)


def reads_made(server: FeatureServer) -> list[list]:
    """The `read_many` calls the server's online store makes from now on (the real store reads them)."""
    store = server.state.store.online_store
    made: list[list] = []
    real = store.read_many

    def read_many(reads):
        made.append(list(reads))
        return real(reads)

    store.read_many = read_many
    return made


def test_reads_of_one_loop_iteration_are_read_together_and_answered_each_as_alone(project):
    async def check(server, connect):
        bodies = [read_body([1001]), read_body([1002, None, 9999]), b"{not json", read_body([1003], "no_such_service"),
                  read_body(list(range(LOOP_READ_ENTITIES + 1))), read_body([1001, 1003]),
                  json.dumps({"entities": {"driver_id": [1002]}, "features": ["driver_stats:conv_rate"]}).encode()]
        connections = [connect() for _ in bodies]
        made = reads_made(server)
        for (protocol, _), body in zip(connections, bodies):
            protocol.data_received(request(body))
        assert not any(transport.written for _, transport in connections)  # all wait for the loop
        await asyncio.sleep(0)
        assert len(made) == 1 and len(made[0]) == 4  # the four good small reads: one round trip
        for index, ((protocol, transport), body) in enumerate(zip(connections, bodies)):
            if index == 4:  # more entities than a read on the loop takes: the ASGI path's reader thread
                assert not transport.written and protocol.cycle is not None
                (_, answer), = responses(await written(transport))
            else:
                (_, answer), = responses(bytes(transport.written))
            assert (await asgi_answer(server, body))[1] == answer

    serve(project, check)


def test_a_failed_read_together_reads_each_request_alone(project):
    from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
    from fcompile.online.base import store_failed

    async def check(server, connect):
        store = server.state.store.online_store
        real = store.read_many
        made = []
        for failure in (DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "refused together", None)]),
                        store_failed("Redis", "reading", ConnectionError("the server went away"))):
            def read_many(reads, failure=failure):  # fails when asked for several requests' reads at once
                made.append(len(reads))
                if len(reads) > 1:
                    raise failure
                return real(reads)

            store.read_many = read_many
            connections = [connect() for _ in range(3)]
            for protocol, _ in connections:
                protocol.data_received(request(read_body([1001])))
            await asyncio.sleep(0)
            for _, transport in connections:  # each read alone, answered as it would be alone
                (head, answer), = responses(bytes(transport.written))
                assert head.startswith(b"HTTP/1.1 200") and (await asgi_answer(server, read_body([1001])))[1] == answer
        store.read_many = real
        assert made[:4] == [3, 1, 1, 1]

    serve(project, check)


@pytest.mark.parametrize("request_store", ["redis"], indirect=True)  # a Redis record damaged in place
def test_a_stored_row_the_store_cannot_read_fails_only_the_requests_that_read_it(project):
    """One damaged record (an unknown layout id, FC114) answers 503 to the request that reads it, as alone,
    and not to the others of its turn, whose messages name only their own reads."""
    import redis

    from fcompile.online.redis import HEAD

    async def check(server, connect):
        store = server.state.store.online_store
        good, bad = read_body([1001]), read_body([1002])
        assert (await asgi_answer(server, bad))[0] == 200  # every view of the service read once: known to the store
        client = redis.Redis.from_url(store.url)
        try:
            damaged = {}
            for target in list(store._views.values()):
                name = target.prefix + target.encode((1002,))
                value = client.get(name)
                if value is not None:
                    damaged[name] = value
                    client.set(name, value[:HEAD.size] + b"\xff" * 8 + value[HEAD.size + 8:])
            assert damaged
            alone = await asgi_answer(server, bad)
            assert alone[0] == 503 and b"FC114" in alone[1]
            (first, first_transport), (second, second_transport) = connect(), connect()
            first.data_received(request(good))
            second.data_received(request(bad))
            await asyncio.sleep(0)
            (head, answer), = responses(bytes(first_transport.written))
            assert head.startswith(b"HTTP/1.1 200") and answer == (await asgi_answer(server, good))[1]
            (head, answer), = responses(bytes(second_transport.written))
            assert head.startswith(b"HTTP/1.1 503") and answer == alone[1]
        finally:
            for name, value in damaged.items():
                client.set(name, value)
            client.close()

    serve(project, check)


def test_a_closed_connection_or_a_shutdown_never_loses_a_waiting_read(project):
    async def check(server, connect):
        made = reads_made(server)
        gone, gone_transport = connect()
        stopping, stopping_transport = connect()
        staying, staying_transport = connect()
        for protocol in (gone, stopping, staying):
            protocol.data_received(request(read_body([1001])))
        gone_transport.close()        # the client went away before the loop ran again: not read, not answered
        stopping.shutdown()           # the server stops: the waiting read is answered first, alone
        (head, _), = responses(bytes(stopping_transport.written))
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head
        await asyncio.sleep(0)
        assert not gone_transport.written
        assert [len(reads) for reads in made] == [1, 1]  # the stopping one alone, then the staying one
        (head, answer), = responses(bytes(staying_transport.written))
        assert head.startswith(b"HTTP/1.1 200") and (200, answer) == await asgi_answer(server, read_body([1001]))

    serve(project, check)


def test_a_waiting_read_handed_over_when_the_next_request_begins_keeps_its_own_connection_header(project):
    """A read for the reader thread found out only when a pipelined request has begun: it goes the ASGI way,
    keeping the connection open or closing it as its own headers said, not as the parser's next request."""
    async def check(server, connect):
        many = read_body(list(range(LOOP_READ_ENTITIES + 1)))
        protocol, transport = connect()
        protocol.data_received(request(many) + request(read_body([1001])))
        answered = responses(await written(transport, lambda data: data.count(b"HTTP/1.1 200 OK") == 2))
        assert [answer for _, answer in answered] == [(await asgi_answer(server, many))[1],
                                                      (await asgi_answer(server, read_body([1001])))[1]]
        assert not transport.closed

        protocol, transport = connect()
        protocol.data_received(request(many, extra=b"Connection: close\r\n") + request(read_body([1001])))
        answered = await written(transport, lambda data: transport.closed)
        assert transport.closed and len(responses(answered)) == 1  # the next request is not answered

    serve(project, check)
