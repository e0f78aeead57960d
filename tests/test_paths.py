"""One rule for paths (fcompile/user_paths.py): on the command line relative to the current directory, in the
project's files relative to the project folder; a missing path is named as given and where it was looked for."""

import pyarrow.parquet as pq
import pytest

from test_cli import assert_clean, fcompile


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    home = tmp_path_factory.mktemp("paths")
    assert fcompile("init", "sample", cwd=home).returncode == 0
    assert fcompile("seed", "--project-dir", "sample", cwd=home).returncode == 0  # the sources are its tables
    return home


def test_command_line_paths_are_relative_to_the_current_directory(sample):
    result = fcompile("get-historical-features", "--project-dir", "sample", "--spine", "sample/seeds/orders.parquet",
                      "--service", "driver_activity_v1", "--output", "out/training.parquet", cwd=sample)
    assert result.returncode == 0, result.stderr
    assert pq.read_metadata(sample / "out" / "training.parquet").num_rows == 5000
    assert not (sample / "sample" / "out").exists()


def test_a_missing_spine_is_named_as_given_and_where_it_was_looked_for(sample):
    result = fcompile("get-historical-features", "--project-dir", "sample", "--spine", "data/orders.parquet",
                      "--service", "driver_activity_v1", "--output", "x.parquet", cwd=sample)
    assert result.returncode == 1
    assert_clean(result)
    assert (f"error[FC062]: spine file not found: data/orders.parquet (looked for {sample / 'data' / 'orders.parquet'})"
            in result.stderr)
    assert ("hint: paths on the command line (and given to the SDK) are relative to the current directory "
            f"({sample})") in result.stderr


def test_a_missing_push_file_is_named_as_given_and_where_it_was_looked_for(sample):
    result = fcompile("push", "driver_stats_push", "--file", "rows.parquet", "--project-dir", "sample", cwd=sample)
    assert result.returncode == 1
    assert_clean(result)
    assert f"error[FC004]: rows file not found: rows.parquet (looked for {sample / 'rows.parquet'})" in result.stderr


def test_spec_paths_are_relative_to_the_project_folder(sample):
    """The same project validates from anywhere; a source's missing file is looked for in the project."""
    assert fcompile("validate", "--project-dir", "sample", cwd=sample).returncode == 0
    assert fcompile("validate", cwd=sample / "sample").returncode == 0
