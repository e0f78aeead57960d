"""A uniform random sample of the entity keys an online store holds, in bounded memory (`fcompile profile
--online`, fcompile/tasks/online_skew.py).

Every key up to `limit`; beyond it, `limit` keys chosen uniformly at random without replacement. This is
reservoir sampling by random priority (bottom-k): each key gets a priority, the first 8 bytes of a BLAKE2b
hash of its encoded bytes keyed by the seed, and the sample is the `limit` keys of the lowest priorities,
kept in a heap of `limit` entries while the store lists its keys (`OnlineStore.stored_keys`, a chunk at a
time). A keyed hash is as good as a random draw per key, and it makes the sample a function of the seed and
of the set of keys alone: the same seed picks the same keys whatever order the store lists them in (Redis
lists them in no order), and a key listed twice (Redis's SCAN may) cannot enter twice.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class KeySample:
    keys: tuple[bytes, ...]  # encoded keys, in byte order
    # keys the store listed: exact when they all fit in the sample; beyond it, a key Redis listed twice after it
    # left the sample counts twice
    listed: int

    @property
    def complete(self) -> bool:
        """Whether every key listed is in the sample (none were left out)."""
        return len(self.keys) == self.listed


def sample_keys(chunks: Iterable[list[bytes]], limit: int, seed: int) -> KeySample:
    """Every key of `chunks` when there are at most `limit` of them, else the `limit` of the lowest
    priorities (see the module's docstring). `limit` >= 1; `seed` any integer >= 0."""
    if limit < 1:
        raise ValueError("the limit of a key sample is at least 1")
    secret = seed.to_bytes(max(1, (seed.bit_length() + 7) // 8), "big")[:64]
    heap: list[tuple[int, bytes]] = []  # (-priority, key): the root is the key of the highest priority kept
    kept: set[bytes] = set()
    listed = 0
    for chunk in chunks:
        for key in chunk:
            if key in kept:
                continue
            listed += 1
            priority = int.from_bytes(hashlib.blake2b(key, digest_size=8, key=secret).digest(), "big")
            if len(heap) < limit:
                heapq.heappush(heap, (-priority, key))
                kept.add(key)
            elif -heap[0][0] > priority:
                _, dropped = heapq.heapreplace(heap, (-priority, key))
                kept.discard(dropped)
                kept.add(key)
    return KeySample(tuple(sorted(kept)), listed)
