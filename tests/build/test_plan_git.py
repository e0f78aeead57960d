"""`fcompile plan` on two commits of a real git repository: the sample project committed on main, the state
built from main's checkout, and a second commit on a branch changing a ttl, adding a feature, removing one or
editing a description."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sample_projects import assert_clean, fcompile

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT_ENV = {"GIT_AUTHOR_NAME": "fcompile tests", "GIT_AUTHOR_EMAIL": "tests@example.com",
           "GIT_COMMITTER_NAME": "fcompile tests", "GIT_COMMITTER_EMAIL": "tests@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> tuple[Path, Path]:
    """A repository whose main holds the sample project (first commit), and the state built from a checkout
    of main in a folder of its own, as CI would download it."""
    root = tmp_path_factory.mktemp("git")
    repo = root / "features"
    created = fcompile("init", str(repo), "--scale", "0.01", "--as-of", "2025-01-15")
    assert created.returncode == 0, created.stderr
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the sample project", cwd=repo)
    git("worktree", "add", "-q", "--detach", str(root / "main"), "main", cwd=repo)
    built = fcompile("build", "--project-dir", str(root / "main"), "--dialect", "duckdb",
                     "--target-path", str(root / "state"))
    assert built.returncode == 0, built.stderr
    return repo, root / "state"


CHANGES = {
    "ttl": ("features/driver.yml", "    ttl: 2h\n", "    ttl: 3h\n"),
    "feature added": ("features/driver.yml", "      - name: vehicle_class\n",
                      "      - {name: signup_date, dtype: date}\n      - name: vehicle_class\n"),
    "feature removed": ("features/customer.yml", "      - {name: lifetime_order_count, dtype: int64, description: "
                        "Orders placed since signup.}\n", ""),
    "description": ("features/customer.yml", "Daily snapshot of each customer's account at 00:00 UTC;",
                    "Daily snapshot of each customer's account, taken at 00:00 UTC;"),
}
EXPECTED = {  # exit code, the first node's heading, the JSON summary
    "ttl": (0, "recompute: feature_view.driver_hourly_stats (features/driver.yml:21)",
            {"breaking": 0, "recompute": 5, "compatible": 0, "metadata": 0}),
    "feature added": (0, "compatible: feature_view.driver_lifetime_stats (features/driver.yml:40)",
                      {"breaking": 0, "recompute": 0, "compatible": 4, "metadata": 0}),
    "feature removed": (2, "breaking: feature_view.customer_daily_profile (features/customer.yml:11)",
                        {"breaking": 1, "recompute": 0, "compatible": 0, "metadata": 0}),
    "description": (0, "metadata only: source.customer_profile (features/customer.yml:3)",
                    {"breaking": 0, "recompute": 0, "compatible": 0, "metadata": 1}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_plan_on_a_second_commit(repository, change):
    repo, state = repository
    branch = change.replace(" ", "-")
    git("checkout", "-q", "-B", branch, "main", cwd=repo)
    relative, old, new = CHANGES[change]
    spec = repo / relative
    text = spec.read_text("utf-8")
    assert text.count(old) == 1, old
    spec.write_text(text.replace(old, new), "utf-8")
    git("commit", "-q", "-am", change, cwd=repo)
    assert git("rev-list", "--count", "main..HEAD", cwd=repo).strip() == "1"

    code, heading, summary = EXPECTED[change]
    shown = fcompile("plan", "--state", str(state), cwd=repo)
    assert_clean(shown)
    assert shown.returncode == code, shown.stdout + shown.stderr
    assert shown.stdout.split("\n\n")[1].splitlines()[0] == heading
    document = fcompile("plan", "--state", str(state), "--format", "json", cwd=repo)
    assert document.returncode == code
    found = json.loads(document.stdout)
    assert {k: v for k, v in found["summary"].items() if k != "unchanged"} == summary
    assert found["dialects"] == ["duckdb"]  # those of the state
    markdown = fcompile("plan", "--state", str(state), "--format", "markdown", cwd=repo)
    assert markdown.returncode == code
    assert markdown.stdout.startswith("### fcompile plan: " + ("breaking changes" if code else "no breaking change"))
    git("checkout", "-q", "main", cwd=repo)
    assert git("status", "--porcelain", cwd=repo) == ""  # plan writes nothing
