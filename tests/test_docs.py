from pathlib import Path

from fcompile.diagnostics import Code

ROOT = Path(__file__).resolve().parents[1]


def test_readme_documents_every_diagnostic_code():
    readme = (ROOT / "README.md").read_text()
    missing = [c.value for c in Code if f"| {c.value} |" not in readme]
    assert missing == []


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_the_ci_workflow_recipe_uses_real_commands_and_options():
    import shlex

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
