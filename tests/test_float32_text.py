"""`fcompile.float32_text`: a float32 widened to a double prints as the shortest text that reads back as the
same float32 - numpy's choice for its `float32`, checked here on random bit patterns and edge values."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import pytest

from fcompile.float32_text import float32_text


def widened(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


@pytest.mark.parametrize("stored, shown", [
    (3.61, "3.61"), (4.05, "4.05"), (4.85, "4.85"), (1636.0, "1636.0"), (0.1, "0.1"), (-2.5, "-2.5"),
    (1e-05, "1e-05"), (0.0, "0.0"), (-0.0, "-0.0"), (16777217.0, "16777216.0"),
    (3.4028234663852886e38, "3.4028235e+38"), (1.401298464324817e-45, "1e-45"),
])
def test_known_values(stored, shown):
    assert float32_text(widened(stored)) == shown


def test_non_finite_values_and_doubles_that_are_no_float32_print_as_str():
    assert [float32_text(v) for v in (math.nan, math.inf, -math.inf)] == ["nan", "inf", "-inf"]
    assert float32_text(0.1) == "0.1" and float32_text(3.609999895095825) == "3.61"
    assert float32_text(1e300) == "1e+300"  # beyond float32: as it is
    assert float32_text(1 / 3) == str(1 / 3)  # a double that no float32 widens to


def test_random_float32s_read_back_and_match_numpys_shortest():
    rng = random.Random(7)
    for _ in range(20_000):
        value = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0]
        if not math.isfinite(value):
            continue
        text = float32_text(value)
        assert widened(float(text)) == value, (value, text)
        assert float(text) == float(str(np.float32(value))), (value, text)
