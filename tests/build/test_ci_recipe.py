"""The CI recipe in docs/ci/github-actions.yml works as written: its pull-request job's commands, taken
from the YAML file, pass on a project whose compiled SQL is committed, as a user's repository would be."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml
from sample_projects import assert_clean, fcompile

from fcompile.artifacts.build import read_tree

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "ci" / "github-actions.yml"


def pull_request_commands() -> list[list[str]]:
    """The `run:` steps of the job that runs on pull requests, after the one that installs fcompile."""
    workflow = yaml.safe_load(RECIPE.read_text("utf-8"))
    jobs = [job for job in workflow["jobs"].values() if "pull_request" in job.get("if", "")]
    assert len(jobs) == 1, "the recipe has one pull-request job"
    runs = [step["run"] for step in jobs[0]["steps"] if "run" in step]
    installs = [i for i, run in enumerate(runs) if run.startswith("pip install")]
    assert installs, "the pull-request job installs fcompile"
    commands = [shlex.split(run) for run in runs[installs[0] + 1:]]
    assert commands and all(c[0] == "fcompile" for c in commands), commands
    return commands


def run_recipe(project: Path) -> None:
    """What the user commits (`fcompile build --dialect all`), then the recipe's checks in the project."""
    built = fcompile("build", "--dialect", "all", cwd=project)
    assert_clean(built)
    assert built.returncode == 0, built.stdout + built.stderr
    committed = read_tree(project / "target")
    for command in pull_request_commands():
        result = fcompile(*command[1:], cwd=project)
        assert_clean(result)
        assert result.returncode == 0, (command, result.stdout + result.stderr)
    assert read_tree(project / "target") == committed  # the checks write nothing


def test_the_recipe_reads_the_commands_it_should():
    assert [c[:2] for c in pull_request_commands()] == [["fcompile", "validate"], ["fcompile", "build"]]


def test_the_recipe_passes_on_a_project_every_dialect_compiles(table_sample):
    run_recipe(table_sample)


def test_the_recipe_passes_on_a_fresh_init_project(tmp_path):
    """The init project's sources are seeded tables, whose columns are known at compile time: every dialect
    compiles it, with nothing loaded anywhere."""
    project = tmp_path / "features"
    created = fcompile("init", str(project), "--scale", "0.01")
    assert created.returncode == 0, created.stderr
    run_recipe(project)

