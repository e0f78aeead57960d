"""Fixtures of the catalog tests: the sample project, tested, and its catalog site generated once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def fcompile(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    return subprocess.run([sys.executable, "-m", "fcompile", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory) -> Path:
    """The sample's project folder, seeded and tested (target/run_results.json), with target/docs/ generated."""
    project = tmp_path_factory.mktemp("catalog") / "driver_ranking"
    for args in (("init", str(project)), ("seed", "--project-dir", str(project)),
                 ("test", "--project-dir", str(project)), ("docs", "generate", "--project-dir", str(project))):
        done = fcompile(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return project
