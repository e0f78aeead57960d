"""The CI recipe in docs/ci/github-actions.yml works as written: its pull-request job's commands, taken
from the YAML file, pass on a project whose compiled SQL is committed, as a user's repository would be."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from sample_projects import assert_clean, fcompile

from fcompile.artifacts.build import read_tree

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "ci" / "github-actions.yml"


def pull_request_jobs() -> dict[str, dict]:
    workflow = yaml.safe_load(RECIPE.read_text("utf-8"))
    return {name: job for name, job in workflow["jobs"].items() if "pull_request" in job.get("if", "")}


def pull_request_commands() -> list[list[str]]:
    """The `run:` steps of the job that checks pull requests, after the one that installs fcompile."""
    jobs = pull_request_jobs()
    assert set(jobs) == {"check", "plan"}, "the recipe checks pull requests and plans them"
    runs = [step["run"] for step in jobs["check"]["steps"] if "run" in step]
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



def plan_job_steps() -> list[dict]:
    """The plan job's steps that run a command, after the one that installs fcompile, up to the plan itself
    (the next ones post the comment and need GitHub)."""
    steps = pull_request_jobs()["plan"]["steps"]
    runs = [step for step in steps if "run" in step]
    installs = [i for i, step in enumerate(runs) if step["run"].startswith("pip install")]
    ids = [step.get("id") for step in runs]
    assert installs and "plan" in ids
    return runs[installs[0] + 1:ids.index("plan") + 1]


def run_like_github(steps: list[dict], checkout: Path, runner: Path, base_ref: str) -> dict[str, str]:
    """Each step's script as a GitHub runner runs it (bash -eo pipefail unless the step names its shell), with
    `fcompile` on the PATH; the step outputs written to GITHUB_OUTPUT."""
    import os
    import stat
    import subprocess
    import sys

    shims = runner / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    shim = shims / "fcompile"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m fcompile "$@"\n', "utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    outputs = runner / "outputs"
    outputs.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    env.update(PATH=f"{shims}{os.pathsep}{env['PATH']}", RUNNER_TEMP=str(runner), GITHUB_BASE_REF=base_ref,
               GITHUB_OUTPUT=str(outputs))
    for number, step in enumerate(steps):
        script = runner / f"step{number}.sh"
        script.write_text(step["run"], "utf-8")
        shell = ["bash", str(script)] if step.get("shell") == "bash {0}" else \
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
        done = subprocess.run(shell, cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (step["run"], done.stdout, done.stderr)
    return dict(line.split("=", 1) for line in outputs.read_text().splitlines())


def test_the_plan_job_comments_what_a_pull_request_changes(tmp_path):
    """A repository whose main commits the project and its target/ (as the check job demands), a clone on a
    pull-request branch, and the plan job's commands run there as GitHub runs them."""
    import os
    import subprocess

    def git(*args: str, cwd: Path) -> None:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr)

    upstream = tmp_path / "upstream"
    assert fcompile("init", str(upstream), "--scale", "0.01", "--as-of", "2025-01-15").returncode == 0
    assert fcompile("build", "--dialect", "all", cwd=upstream).returncode == 0
    git("init", "-q", "-b", "main", cwd=upstream)
    git("add", "-A", cwd=upstream)
    git("commit", "-q", "-m", "features and their compiled SQL", cwd=upstream)
    checkout = tmp_path / "checkout"
    git("clone", "-q", str(upstream), str(checkout), cwd=tmp_path)
    git("checkout", "-q", "-b", "longer-ttl", cwd=checkout)
    spec = checkout / "features" / "driver.yml"
    spec.write_text(spec.read_text("utf-8").replace("    ttl: 2h\n", "    ttl: 3h\n"), "utf-8")
    git("commit", "-q", "-am", "a longer ttl", cwd=checkout)

    steps = plan_job_steps()
    outputs = run_like_github(steps, checkout, tmp_path / "runner", "main")
    assert outputs == {"exit_code": "0"}
    comment = (checkout / "plan.md").read_text("utf-8")
    assert comment.startswith("### fcompile plan: no breaking change\n")
    assert "| `feature_view.driver_hourly_stats` (features/driver.yml:21) | **recompute** | ttl 2h → 3h" in comment
    assert "compiled/snowflake/retrieve/driver_activity_v1.sql" in comment  # the state is main's, every dialect

    spec.write_text(re.sub(r"      - \{name: avg_daily_trips, .*\n", "", spec.read_text("utf-8")), "utf-8")
    services = checkout / "features" / "services.yml"
    services.write_text(services.read_text("utf-8").replace("      - driver_hourly_stats:avg_daily_trips\n", ""),
                        "utf-8")
    orders = checkout / "features" / "orders.yml"  # the on-demand feature that read it divides by a constant
    orders.write_text(orders.read_text("utf-8").replace("order_amount / avg_daily_trips", "order_amount / 10"), "utf-8")
    git("commit", "-q", "-am", "no more avg_daily_trips", cwd=checkout)
    (checkout / "plan.md").unlink()
    outputs = run_like_github(steps, checkout, tmp_path / "runner2", "main")
    assert outputs == {"exit_code": "2"}
    comment = (checkout / "plan.md").read_text("utf-8")
    assert comment.startswith("### fcompile plan: breaking changes\n")
    assert "feature avg_daily_trips removed" in comment

    after = pull_request_jobs()["plan"]["steps"][-2:]
    assert "--body-file plan.md" in after[0]["run"] and "breaking-change" in after[1]["if"]
