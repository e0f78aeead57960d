"""The documentation is checked, so that an example cannot rot.

Which command lines run (the rule every page follows):
- Every fenced block tagged ```sh in README.md and docs/**/*.md is run, line by line, in order. A line
  ending in a backslash continues on the next one; blank lines and `#` comments are skipped.
- Lines starting with `make ` are shown, not run: `make demo` and `make test` are what CI runs itself.
- Anything that cannot run here - a warehouse or server that needs credentials, `fcompile serve` (it
  blocks), `curl` against a running server, `pip install` - goes in a block tagged ```console instead.
  Output, SQL, YAML and Python have their own tags (```text, ```sql, ```yaml, ```python) and are not run.
- Each page runs in a fresh copy of the sample project as getting started leaves it, made by
  `fcompile init` (its data ending now) and `fcompile seed` (its tables loaded), which is
  the working directory; a `cd` carries over to the page's next lines, so a walk-through runs as a
  sequence (README.md and getting-started.md make their own project with `fcompile init`).
  `fcompile` is the fcompile of the interpreter running the tests.
A failing line fails the test with the page, the line number and the command's output.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


def command_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a page's ```sh blocks to run, as (line number, command), in page order."""
    commands: list[tuple[int, str]] = []
    in_block, runs, pending, start = None, False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if in_block is None:
            if match:
                in_block, runs = match.group(2), match.group(3) == "sh"
            continue
        if match and match.group(2)[0] == in_block[0] and len(match.group(2)) >= len(in_block) \
                and not match.group(3):
            in_block = None
            continue
        if not runs:
            continue
        stripped = line.strip()
        if not pending:
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        command, pending = pending + stripped, ""
        if not command.startswith("make "):
            commands.append((start, command))
    return commands


def test_the_rule_reads_blocks_as_documented():
    page = "\n".join([
        "```sh", "fcompile validate   # a comment", "", "# a whole-line comment", "fcompile ls \\", "    --json",
        "make demo", "```", "```console", "fcompile serve", "```", "```text", "fcompile nope", "```",
        "```sh", "cd sub", "```"])
    assert command_lines(page) == [(2, "fcompile validate   # a comment"), (5, "fcompile ls --json"),
                                   (16, "cd sub")]


@pytest.fixture(scope="module")
def sample_project(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "sample"
    subprocess.run([sys.executable, "-m", "fcompile", "init", str(path)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "fcompile", "seed"], cwd=path, check=True, capture_output=True)
    return path


@pytest.mark.parametrize("page", [p for p in PAGES if command_lines(p.read_text())],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_in_the_docs_runs(page: Path, sample_project: Path, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(sample_project, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    prelude = f'fcompile() {{ {shlex.quote(sys.executable)} -m fcompile "$@"; }}\nset -o pipefail\n'
    where_file = tmp_path / "cwd"
    cwd = project
    for number, command in command_lines(page.read_text()):
        script = f"{prelude}{command}\nstatus=$?\npwd > {shlex.quote(str(where_file))}\nexit $status\n"
        done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, (f"{page.relative_to(ROOT)}:{number}: `{command}` exited "
                                      f"{done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        cwd = Path(where_file.read_text().strip())


def test_relative_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_docs_stand_alone():
    """No page, module, test or bench points at files that are not in the repository."""
    words = ("DESIGN" + ".md", "STYLE" + ".md", "../" + "shared")
    found = [f"{path.relative_to(ROOT)}: {word}"
             for folder in ("fcompile", "tests", "bench", "docs")
             for path in sorted((ROOT / folder).rglob("*")) if path.suffix in {".py", ".md", ".yml", ".json"}
             for word in words if word in path.read_text(errors="replace")]
    found += [f"{name}: {word}" for name in ("README.md", "CHANGELOG.md", "Makefile")
              for word in words if word in (ROOT / name).read_text()]
    assert found == []


def test_the_ci_workflow_recipe_uses_real_commands_and_options():
    import yaml
    from typer.testing import CliRunner

    from fcompile.cli import app

    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
    commands = [shlex.split(step["run"]) for job in workflow["jobs"].values() for step in job["steps"]
                if step.get("run", "").startswith("fcompile ")]
    assert {c[1] for c in commands} >= {"validate", "build", "run"}
    for command in commands:
        usage = CliRunner().invoke(app, [command[1], "--help"], terminal_width=200)
        assert usage.exit_code == 0, command
        for option in (word for word in command[2:] if word.startswith("--")):
            assert option in usage.output, (command, option)
