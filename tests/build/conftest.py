"""Projects for the build tests: the sample with Parquet path sources (its seed files read in place) and a
variant of it whose sources are tables of a schema and a query, so that every dialect can compile every node."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sample_projects import write_table_sample
from seeded_sample import init_path_sample


@pytest.fixture
def table_sample(tmp_path) -> Path:
    return write_table_sample(tmp_path / "tables")


@pytest.fixture(scope="session")
def _generated_sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "sample"
    return init_path_sample(root, scale=0.01, seed=7)


@pytest.fixture
def path_sample(tmp_path, _generated_sample) -> Path:
    """The sample project with path sources, data included (small scale: compiled SQL does not depend on it)."""
    return Path(shutil.copytree(_generated_sample, tmp_path / "sample"))
