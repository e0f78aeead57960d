"""Projects for the build tests: the real sample (Parquet path sources) and a variant of it whose
sources are tables and a query, so that every dialect can compile every node."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sample_projects import write_table_sample

from fcompile.sample import init_project


@pytest.fixture
def table_sample(tmp_path) -> Path:
    return write_table_sample(tmp_path / "tables")


@pytest.fixture(scope="session")
def _generated_sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "sample"
    init_project(root, scale=0.01, seed=7)
    return root


@pytest.fixture
def path_sample(tmp_path, _generated_sample) -> Path:
    """The real sample project, data included (small scale: compiled SQL does not depend on it)."""
    return Path(shutil.copytree(_generated_sample, tmp_path / "sample"))
