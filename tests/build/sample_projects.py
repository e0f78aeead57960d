"""Helpers of the build tests: the sample variant with table sources, and running the real command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from fcompile.sample import sample_spec_files

# The spine becomes a query with an explicit select list, so its columns are known at compile time without
# seed files (dialects without SELECT * EXCLUDE need them); every other source reads a table of schema `raw`.
SPINE_QUERY = ("query: SELECT order_id, driver_id, customer_id, event_timestamp, fare_amount, completed, order_amount, "
               "order_hour "
               "FROM raw.orders")


def write_table_sample(dest: Path) -> Path:
    """The sample's spec files (no seeds) with `table: x` replaced by `table: raw.x` (orders: a query)."""
    root = resources.files("fcompile.sample").joinpath("project")
    for relative in sample_spec_files():
        text = root.joinpath(*relative.parts).read_text("utf-8")
        text = re.sub(r"^(\s+)table: orders$", r"\1" + SPINE_QUERY, text, flags=re.MULTILINE)
        text = re.sub(r"^(\s+)table: (\w+)$", r"\1table: raw.\2", text, flags=re.MULTILINE)
        out = dest.joinpath(*relative.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, "utf-8")
    specs = "".join(p.read_text() for p in dest.rglob("*.yml"))
    assert SPINE_QUERY in specs and specs.count("table: raw.") == 5
    return dest


def fcompile(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    return subprocess.run([sys.executable, "-m", "fcompile", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_clean(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr
