"""The `fcompile` script's own exit (fcompile/entry_point.py): once the command is done the process ends
without the interpreter's teardown, and loses nothing by it - the exit code, every byte written to a pipe,
the functions registered with `atexit` - while an exit that needs the interpreter (a thread still running)
gets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def script(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, then the fcompile script's `main()` with `args` as its command line."""
    program = (f"import sys\n{code}\nfrom fcompile.entry_point import main\n"
               f"sys.argv = ['fcompile', *{list(args)!r}]\nmain()\n")
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exit") / "project"
    subprocess.run([sys.executable, "-m", "fcompile", "init", str(folder)], env=ENV, check=True, capture_output=True,
                   timeout=120)
    return folder


def test_exit_codes_are_the_commands(project, tmp_path):
    assert script("", "validate", cwd=project).returncode == 0
    assert script("", "validate", cwd=tmp_path).returncode == 1  # no project here: diagnostics, exit code 1
    usage = script("", "validate", "--no-such-option", cwd=project)
    assert usage.returncode == 1 and "error[FC090]: No such option: --no-such-option" in usage.stderr


def test_a_long_output_reaches_the_pipe_whole_and_atexit_functions_run(project):
    done = script("import atexit\natexit.register(lambda: print('atexit ran', file=sys.stderr))", "ls", "--json",
                  cwd=project)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)  # all of it: a cut would not parse
    assert listing and "atexit ran" in done.stderr


def test_a_thread_still_running_gets_the_interpreters_exit(project):
    # a non-daemon thread that prints after the command: an immediate exit would lose its line
    code = ("import threading, time\n"
            "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()")
    done = script(code, "validate", cwd=project)
    assert done.returncode == 0 and "thread done" in done.stdout
