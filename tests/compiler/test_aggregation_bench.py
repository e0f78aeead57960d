"""bench/aggregation_bench.py runs: a scaled-down run prints fcompile's time and memory beside both hand-written
forms, finds their outputs equal, and prints the ratio to the best one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "aggregation_bench.py"


def test_a_small_run_prints_its_figures_and_finds_the_outputs_equal():
    done = subprocess.run([sys.executable, str(BENCH), "--rows", "20000", "--entities", "200", "--spine-rows", "2000"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for kind in ("fcompile", "frames", "join"):
        assert re.search(rf"  {kind}\s+\d+\.\d\d s  peak\s+[\d,]+ MiB  2,000 rows  CPU \d+\.\d\d s", out), out
    assert re.search(r"fcompile vs (frames|join): equal", out), out
    assert re.search(r"fcompile / best hand-written \((frames|join)\): time \d+\.\d\dx \(target <= 1\.3x: (met|MISSED)\), "
                     r"peak memory \d+\.\d\dx, CPU time \d+\.\d\dx", out), out
