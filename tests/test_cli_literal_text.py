"""User text is printed as written: rich markup (`[/]`, `[bold]`, `[link=...]`) and emoji codes (`:x:`,
`:smile:`) in paths, descriptions and the messages quoting them, on a terminal (tables, styles) and in a pipe."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import run_in_terminal

ODD = "[/][bold]x:x::smile:[link=http://e]y"
PROJECT = "name: shop\ntargets:\n  dev: {offline: {type: duckdb}, online: {type: sqlite}}\n"
SPEC = f"""\
entities:
  - {{name: customer, join_keys: [{{name: customer_id, dtype: string}}]}}
sources:
  - {{name: orders_src, path: 'data/{ODD}.parquet', timestamp_field: ts}}
feature_views:
  - name: customer_stats
    description: '{ODD} :b:'
    entities: [customer]
    source: orders_src
    features: [{{name: order_count, dtype: int64}}]
datasets:
  - name: training
    spine: {{path: 'spines/{ODD}.parquet'}}
    features: ["customer_stats:order_count"]
    output: {{path: 'out/{ODD}.parquet'}}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "features.yml").write_text(SPEC)
    return tmp_path


def in_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """The exit code and what a user sees running fcompile on a wide terminal (a pseudo-terminal)."""
    return run_in_terminal(*args, columns=400, cwd=cwd)


@pytest.mark.parametrize("args", [["ls"], ["validate"], ["run", "--dry-run"], ["run"]])
def test_markup_and_emoji_codes_print_as_written(project, args):
    code, seen = in_terminal(*args, cwd=project)
    assert "internal error" not in seen and "Traceback" not in seen, seen
    assert f"{ODD}.parquet" in seen, seen
    assert "\N{CROSS MARK}" not in seen and "\N{SMILING FACE WITH SMILING EYES}" not in seen
    if args == ["validate"]:  # the missing source file: a warning quoting its path
        assert code == 0 and f"no file matches 'data/{ODD}.parquet'" in seen
    if args == ["run"]:
        assert code == 1 and "error[FC062]" in seen


def test_a_piped_listing_and_json_are_literal_too(project):
    result = subprocess.run([sys.executable, "-m", "fcompile", "ls", "--json"], cwd=project, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and f"{ODD} :b:" in result.stdout
    result = subprocess.run([sys.executable, "-m", "fcompile", "ls"], cwd=project, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and f"path: data/{ODD}.parquet" in result.stdout, result.stderr
