"""The materialization tests' project (materialize_projects.py) and a way to run the command in process."""

from __future__ import annotations

import pytest
from materialize_projects import write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path / "materialize")
