"""Projects for the runner tests: the small hand-made one (runner_projects.py) and the generated sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from runner_projects import write_small_project
from seeded_sample import init_seeded_sample


@pytest.fixture
def small_project(tmp_path) -> Path:
    return write_small_project(tmp_path / "small")


@pytest.fixture(scope="session")
def _generated_sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runner_sample") / "sample"
    return init_seeded_sample(root, scale=0.1, seed=11)


@pytest.fixture
def sample_project(tmp_path, _generated_sample) -> Path:
    """A fresh copy of the generated sample, its seeds loaded (tests write tables and files into it)."""
    return Path(shutil.copytree(_generated_sample, tmp_path / "sample"))
