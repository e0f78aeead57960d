"""Command start-up benchmark: what every `fcompile` command pays before and around its work.

Times, as a user runs them (a new process each time, median of `--repeat`), `fcompile --version`, and
`validate`, `build` and `ls` of the sample project (`fcompile init`) warm: after one run, so the parse
cache, the compile cache and the remembered seed schemas are in place. Beside them, in the same run, the
baseline every Python command-line tool pays: starting the interpreter (`python -c pass`) and importing
the command-line library alone (`python -c 'import typer'`). Each row gives the median wall time and the
median CPU time (user + system, from `wait4`), which other jobs on a shared machine move less. Python may
write its bytecode cache (PYTHONDONTWRITEBYTECODE is dropped for the runs), as an installed package has it:
without it every module is compiled again at every start.
Targets (issue 20): `--version` <= 0.1 s, `validate` <= 0.3 s, `build` <= 0.5 s on the 2-core machine.

    python bench/command_bench.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"fcompile --version": 0.1, "fcompile validate": 0.3, "fcompile build": 0.5}


def timed(command: list[str], cwd: Path, env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` runs (after one untimed run), failing loudly on a non-zero
    exit."""
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    times, cpu = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        times.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed")
    return statistics.median(times), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    fcompile = [sys.executable, "-m", "fcompile"]  # what the `fcompile` script runs, from this interpreter
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(folder) / "cache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        project = Path(folder) / "project"
        subprocess.run([*fcompile, "init", str(project)], env=env, check=True, capture_output=True)
        rows = [
            ("python -c pass (baseline: interpreter start)", [sys.executable, "-c", "pass"]),
            ("python -c 'import typer' (baseline: the CLI library)", [sys.executable, "-c", "import typer"]),
            ("fcompile --version", [*fcompile, "--version"]),
            ("fcompile ls", [*fcompile, "ls"]),
            ("fcompile validate", [*fcompile, "validate"]),
            ("fcompile build", [*fcompile, "build"]),
        ]
        load = os.getloadavg()[0]
        results = [(name, timed(command, project, env, args.repeat)) for name, command in rows]
    base = results[0][1][0]
    print(f"sample project, warm caches; median of {args.repeat} new processes; load average {load:.1f} at the "
          f"start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{'command':56s} {'seconds':>8s} {'CPU s':>8s} {'x start':>8s}  target")
    for name, (seconds, cpu) in results:
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target:.1f} s: {'met' if seconds <= target else 'NOT met'}"
        print(f"{name:56s} {seconds:8.3f} {cpu:8.3f} {seconds / base:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
