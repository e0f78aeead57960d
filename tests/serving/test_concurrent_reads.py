"""Many clients at once, on a real server (SQLite and Redis): the small reads that arrive in one turn of a
worker's event loop are answered together (protocol.py, `FeatureServer.answer_together`), so this checks
that every client gets the answer to its own request, in its own order, whatever it shares a turn with -
reads of other services, features, sizes, errors, pipelined requests and a read for the reader thread."""

from __future__ import annotations

import asyncio
import json
import random

from serving_helpers import Server

BODIES = [
    {"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"},
    {"entities": {"driver_id": [1002, 1003, 4242]}, "feature_service": "driver_v1"},
    {"entities": {"driver_id": [1003]}, "features": ["driver_recent:trips", "driver_stats:city"],
     "full_feature_names": True},
    {"entities": {"driver_id": [None, 1001]}, "features": ["driver_stats:conv_rate"]},
    {"entities": {"driver_id": ["not a number"]}, "feature_service": "driver_v1"},     # 4xx, its own message
    {"entities": {"driver_id": [1001]}, "feature_service": "no_such_service"},         # 404
    {"entities": {"driver_id": list(range(2000, 2300))}, "feature_service": "driver_v1"},  # the reader thread
]
REQUESTS = [json.dumps(body).encode() for body in BODIES] + [b"{not json"]


def request(body: bytes) -> bytes:
    return b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    return head.split(b"\r\n")[0], await reader.readexactly(length)


async def client(port: int, seed: int, rounds: int) -> list[tuple[int, tuple[bytes, bytes]]]:
    """`rounds` requests on one keep-alive connection, one at a time or, every third round, two pipelined."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = []
    try:
        for turn in range(rounds):
            asked = [rng.randrange(len(REQUESTS)) for _ in range(2 if turn % 3 == 2 else 1)]
            writer.write(b"".join(request(REQUESTS[i]) for i in asked))
            await writer.drain()
            for i in asked:
                got.append((i, await read_answer(reader)))
    finally:
        writer.close()
    return got


def test_every_client_gets_its_own_answers_in_order(served: Server):
    expected = {}
    for i, body in enumerate(REQUESTS):  # one at a time first: the answer each request gets alone
        async def alone(body=body):
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(request(body))
            answer = await read_answer(reader)
            writer.close()
            return answer

        expected[i] = asyncio.run(alone())
    statuses = {i: status for i, (status, _) in expected.items()}
    assert statuses[0] == statuses[1] == statuses[2] == statuses[3] == statuses[6] == b"HTTP/1.1 200 OK"
    assert statuses[4].startswith(b"HTTP/1.1 4") and statuses[5] == b"HTTP/1.1 404 Not Found"

    async def together():
        return await asyncio.gather(*(client(served.port, seed, 24) for seed in range(24)))

    answered = 0
    for got in asyncio.run(together()):
        for i, answer in got:
            assert answer == expected[i], (BODIES[i] if i < len(BODIES) else REQUESTS[i], answer)
            answered += 1
    assert answered >= 24 * 24
    assert "Traceback" not in served.log
