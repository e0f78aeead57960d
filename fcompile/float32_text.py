"""A float32 value for people: the shortest decimal that reads back as the same float32.

Stores and engines hand a float32 to Python widened exactly to a double, so `str()` prints the double's
digits, rounding noise included (3.609999895095825 for the 3.61 that was stored). `float32_text` gives the
shortest text of at most 9 significant digits that rounds back to the same float32, as numpy prints a
`float32` - and in Python's own form (`1636.0`, `1e-05`, `nan`). Used wherever fcompile prints feature
values: the skew report's samples, `fcompile get-online-features`'s table and `fcompile test`'s failing rows.
"""

from __future__ import annotations

import math
import struct

_SINGLE = struct.Struct("<f")


def _as_float32(value: float) -> float:
    """`value` rounded to the nearest float32, widened back (OverflowError beyond float32's range)."""
    return _SINGLE.unpack(_SINGLE.pack(value))[0]


def float32_text(value: float) -> str:
    """The shortest decimal text that reads back as the float32 `value` (a float32 widened to a double). A
    double that is no float32 (one fcompile did not read as float32) prints as `str()` prints it."""
    if not math.isfinite(value):
        return str(value)
    try:
        if _as_float32(value) != value:
            return str(value)
    except OverflowError:
        return str(value)
    for digits in range(1, 10):  # 9 significant digits always identify a float32
        candidate = float(f"{value:.{digits}g}")
        try:
            if _as_float32(candidate) == value:
                return repr(candidate)
        except OverflowError:  # rounded past float32's largest value
            continue
    return repr(value)
