"""bench/aggregation_bench.py runs: a scaled-down run prints fcompile's time and memory beside the hand-written
forms, finds their outputs equal to the exact form's, and prints the ratios to the best one and the best exact
one; far from zero, the one-pass deviations of the other forms differ and fcompile's does not."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "aggregation_bench.py"
SMALL = ["--rows", "20000", "--entities", "200", "--spine-rows", "2000"]
RATIO = r"time \d+\.\d\dx \(target <= 1\.3x: (met|MISSED)\), peak memory \d+\.\d\dx, CPU time \d+\.\d\dx"


def run(*extra: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH), *SMALL, *extra], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_a_small_run_prints_its_figures_and_finds_the_outputs_equal():
    out = run()
    for kind in ("fcompile", "frames", "join", "two-pass"):
        assert re.search(rf"  {kind}\s+\d+\.\d\d s  peak\s+[\d,]+ MiB  2,000 rows  CPU \d+\.\d\d s", out), out
    for kind in ("fcompile", "frames", "join"):
        assert f"{kind} vs two-pass: equal" in out, out
    assert re.search(rf"fcompile / best hand-written \((frames|join|two-pass)\): {RATIO}", out), out
    assert re.search(rf"fcompile / best exact hand-written \(two-pass\): {RATIO}", out), out


def test_far_from_zero_only_the_one_pass_deviations_differ():
    out = run("--km-offset", "1e9")
    assert "fcompile vs two-pass: equal" in out, out
    assert re.search(r"join vs two-pass: [\d,]+ rows DIFFER \(a one-pass STDDEV_SAMP\)", out), out
    assert re.search(rf"fcompile / best hand-written \(two-pass\): {RATIO}", out), out


def test_without_a_deviation_there_is_no_two_pass_form():
    out = run("--features", "trips_1h,fare_avg_7d")
    assert "two-pass" not in out, out
    assert "fcompile vs join: equal" in out, out
    assert re.search(rf"fcompile / best hand-written \((frames|join)\): {RATIO}", out), out


def test_an_unknown_feature_is_refused():
    done = subprocess.run([sys.executable, str(BENCH), *SMALL, "--features", "nope"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "--features takes some of trips_1h" in done.stderr, done.stderr
