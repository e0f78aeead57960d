"""The `fcompile` command as a user runs it: a real subprocess, exit codes, no tracebacks."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = "name: shop\ntargets:\n  dev: {offline: {type: duckdb}, online: {type: sqlite}}\n"
SPEC = """\
entities:
  - {name: customer, join_keys: [{name: customer_id, dtype: string}], tags: {team: growth}}
sources:
  - {name: orders_src, table: raw.orders, timestamp_field: ts}
feature_views:
  - name: customer_stats
    entities: [customer]
    source: orders_src
    ttl: 7d
    features: [{name: order_count, dtype: int64}, {name: spend, dtype: float64}]
feature_services:
  - {name: churn_v1, features: ["customer_stats:*"]}
"""


def fcompile(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "FCOMPILE_PROJECT_DIR"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fcompile", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yml").write_text(SPEC)
    return tmp_path


def assert_clean(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_version_is_fast():
    start = time.perf_counter()
    result = fcompile("--version")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and result.stdout.startswith("fcompile ")
    assert elapsed < 1.0  # well under 0.5 s on an idle machine; the margin absorbs a loaded CI box
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "--version"],
                             capture_output=True, text=True).stderr
    for heavy in ("duckdb", "pyarrow", "sqlglot", "jsonschema", "jinja2"):
        assert f" {heavy}\n" not in imports, f"{heavy} is imported by --version"


def test_validate_ok_from_cwd_and_from_env(project):
    result = fcompile("validate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "1 entity, 1 source, 1 feature view, 1 feature service, 0 datasets" in result.stdout
    result = fcompile("validate", env={"FCOMPILE_PROJECT_DIR": str(project)}, cwd=project.parent)
    assert result.returncode == 0, result.stderr


def test_validate_reports_every_error_with_position_and_exit_1(project):
    (project / "specs" / "more.yml").write_text(
        "feature_views:\n  - name: x\n    entities: [custmer]\n    source: orders_src\n"
        "    features: [{name: y, dtype: flaot}]\n"
        "feature_services:\n  - {name: s, features: ['customer_stats:spnd']}\n")
    result = fcompile("validate", "--project-dir", str(project))
    assert result.returncode == 1
    assert_clean(result)
    lines = [l.replace(str(project) + "/", "") for l in result.stderr.splitlines() if "error[" in l]
    assert lines == [
        "specs/more.yml:3:16: error[FC030]: feature view 'x' refers to unknown entity 'custmer'",
        "specs/more.yml:5:33: error[FC050]: feature view 'x': unknown dtype 'flaot'",
        "specs/more.yml:7:26: error[FC033]: feature service 's': feature view 'customer_stats' has no feature 'spnd'",
    ]
    assert "hint: did you mean 'customer'?" in result.stderr


def test_validate_json_for_ci(project):
    (project / "specs" / "bad.yml").write_text("entities:\n  - {name: driver, join_keys: [], tags: 3}\n")
    result = fcompile("validate", "--format", "json", "--project-dir", str(project))
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert {(i["code"], i["line"]) for i in items} == {("FC015", 2), ("FC011", 2)}
    assert all(i["path"].endswith("bad.yml") and i["severity"] == "error" for i in items)


def test_ls_table_json_and_kind_filter(project):
    result = fcompile("ls", "--project-dir", str(project))
    assert result.returncode == 0 and "customer_stats" in result.stdout and "specs/shop.yml" in result.stdout
    rows = json.loads(fcompile("ls", "--json", "--kind", "feature_view", "--project-dir", str(project)).stdout)
    assert [(r["kind"], r["name"]) for r in rows] == [("feature_view", "customer_stats")]
    assert rows[0]["spec"]["ttl"] == 7 * 86400 and len(rows[0]["content_hash"]) == 16
    assert rows[0]["join"] == {"strategy": "asof", "why": "ttl 1w > 6h, the range-join limit"}
    assert "aggregation" not in rows[0]


def test_ls_says_how_a_view_of_aggregations_joins(tmp_path):
    """A view of windowed aggregations has no join strategy and no ttl to show: its step instead (the
    sample's driver_trip_windows); a view mixing both shows both."""
    from fcompile.sample import init_project

    root = tmp_path / "sample"
    init_project(root, scale=0.01, seed=3)
    trips = root / "features" / "trips.yml"
    trips.write_text(trips.read_text().replace(
        "    aggregations:\n", "    ttl: 1d\n    features: [{name: fare, dtype: float64}]\n    aggregations:\n", 1))
    result = fcompile("ls", "--project-dir", str(root))
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "\tdriver_trip_windows\t" in line]
    assert "\t1 features and 6 aggregated features (step 1h) by driver from trips, ttl 1d\t" in line
    rows = json.loads(fcompile("ls", "--json", "--kind", "feature_view", "--project-dir", str(root)).stdout)
    [row] = [r for r in rows if r["name"] == "driver_trip_windows"]
    assert row["join"] == {"strategy": "asof", "why": "ttl 1d > 6h, the range-join limit"}
    assert row["aggregation"]["step"] == "1h"
    trips.write_text(trips.read_text().replace("    ttl: 1d\n    features: [{name: fare, dtype: float64}]\n", ""))
    rows = json.loads(fcompile("ls", "--json", "--kind", "feature_view", "--project-dir", str(root)).stdout)
    [row] = [r for r in rows if r["name"] == "driver_trip_windows"]
    assert "join" not in row and row["summary"] == "6 aggregated features (step 1h) by driver from trips"
    assert all("join" in r for r in rows if r["name"] != "driver_trip_windows")


def test_bad_arguments_are_diagnostics_with_exit_1(project):
    for args in (["ls", "--kind", "views"], ["frobnicate"], ["validate", "--format", "xml"],
                 ["validate", "--target", "nope", "--project-dir", str(project)]):
        result = fcompile(*args)
        assert result.returncode == 1, args
        assert "error[FC0" in result.stderr, (args, result.stderr)
        assert_clean(result)


def test_schema_prints_and_writes_valid_json_schemas(tmp_path):
    printed = json.loads(fcompile("schema").stdout)
    assert printed["$schema"].endswith("2020-12/schema")
    result = fcompile("schema", "--out", str(tmp_path / "schemas"))
    assert result.returncode == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == ["fcompile_manifest.schema.json", "fcompile_project.schema.json", "fcompile_spec.schema.json"]


def test_missing_project_is_a_diagnostic(tmp_path):
    result = fcompile("validate", "--project-dir", str(tmp_path))
    assert result.returncode == 1 and "error[FC003]" in result.stderr
    assert_clean(result)


def test_a_folder_that_is_no_project_is_not_read(tmp_path):
    """Run outside a project (say in a home folder), fcompile says so and reads nothing below it: no YAML of
    other tools reported, no cache written."""
    (tmp_path / "tool" / "conf").mkdir(parents=True)
    (tmp_path / "tool" / "conf" / "settings.yml").write_text("entities: [\n")
    for command in (["validate"], ["ls"], ["build"]):
        result = fcompile(*command, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert_clean(result)
        assert "error[FC003]" in result.stderr and "settings.yml" not in result.stderr
        assert "1 error, 0 warnings" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tool"]


def test_what_a_runner_tells_while_working_goes_to_stderr(project, capsys):
    """Spark says it is starting (it takes seconds); the CLI's runner prints such notes on stderr, so
    that `--json` output on stdout stays clean."""
    from fcompile.cli import _runner
    from fcompile.parser import load_project

    with _runner(load_project(project)) as runner:
        runner.notify("starting the engine")
    captured = capsys.readouterr()
    assert "starting the engine" in captured.err and captured.out == ""


def test_an_output_path_that_cannot_be_written_is_fc135_exit_1(tmp_path):
    """`--output` naming a folder: one diagnostic, exit 1, the folder untouched (not an internal error)."""
    root = tmp_path / "sample"
    assert fcompile("init", str(root)).returncode == 0
    assert fcompile("seed", "--project-dir", str(root)).returncode == 0
    (root / "out.parquet").mkdir()
    result = fcompile("get-historical-features", "--project-dir", str(root), "--spine",
                      str(root / "seeds" / "orders.parquet"), "--service", "driver_activity_v1",
                      "--output", str(root / "out.parquet"))
    assert result.returncode == 1, result.stderr
    assert f"error[FC135]: cannot write {root / 'out.parquet'}: Is a directory" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and (root / "out.parquet").is_dir()


# -- help, several-valued --select, ls in pipes and terminals ---------------------------------------------

def command_descriptions() -> dict[str, str]:
    """Each command's description as `fcompile --help` must show it: its docstring's first sentence."""
    from fcompile.cli import app
    from typer.main import get_command

    group = get_command(app)
    return {name: " ".join(command.help.split("\n\n")[0].split()) for name, command in group.commands.items()}


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_help_shows_each_commands_whole_description_at_any_width(columns):
    result = fcompile("--help", env={"COLUMNS": columns})
    assert result.returncode == 0
    import re

    commands = re.sub(r"-\s+", "-", " ".join(result.stdout.partition("Commands:")[2].split()))  # hyphen breaks
    assert "..." not in commands
    for name, description in command_descriptions().items():
        assert description.endswith(".") and len(description) <= 72, (name, description)
        assert f"{name} {description}" in commands, (name, columns, result.stdout)


def test_bare_fcompile_prints_the_help_and_exits_0():
    result = fcompile()
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == fcompile("--help").stdout and "Commands:" in result.stdout


def listed(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line.split("\t")[1] for line in result.stdout.splitlines()]


def test_select_takes_several_values_like_dbt(project):
    """`-s a b` is `-s a -s b`; the values end at the next option (`--project-dir`, `--`)."""
    (project / "specs" / "more.yml").write_text(
        "entities:\n  - {name: store, join_keys: [{name: store_id, dtype: int64}]}\n")
    everything = listed(fcompile("ls", cwd=project))
    assert everything == ["customer", "store", "orders_src", "customer_stats", "churn_v1"]
    for args in (["-s", "store", "churn_v1"], ["-s", "store", "-s", "churn_v1"], ["--select", "store", "churn_v1"],
                 ["--select=store", "churn_v1"], ["-s", "store churn_v1"]):
        assert listed(fcompile("ls", *args, cwd=project)) == ["store", "churn_v1"], args
    assert listed(fcompile("ls", "-s", "store", "churn_v1", "--project-dir", str(project))) == ["store", "churn_v1"]
    assert listed(fcompile("ls", "-s", "+churn_v1", "--exclude", "orders_src", "customer", "--project-dir",
                           str(project))) == ["customer_stats", "churn_v1"]
    # after `--` nothing is an option value: ls takes no argument, so a word there is refused, not selected
    result = fcompile("ls", "-s", "store", "--", "churn_v1", cwd=project)
    assert result.returncode == 1 and "error[FC090]" in result.stderr and "churn_v1" in result.stderr
    assert_clean(result)


def test_several_values_end_at_a_commands_positional_argument_only_after_an_option():
    """A command with a positional argument: `-s a b POS` would take POS as a selector (as dbt would), so
    the argument goes first or after `--`; both work."""
    from typer.testing import CliRunner
    import typer

    from fcompile.cli import _SelectingCommand

    app = typer.Typer()

    @app.command(cls=_SelectingCommand)
    def probe(where: str, select: list[str] = typer.Option(None, "--select", "-s"), flag: bool = False) -> None:
        print(f"{where}|{','.join(select or [])}|{flag}")

    run = CliRunner().invoke
    assert run(app, ["here", "-s", "a", "b"]).stdout.strip() == "here|a,b|False"
    assert run(app, ["-s", "a", "b", "--", "here"]).stdout.strip() == "here|a,b|False"
    assert run(app, ["-s", "a", "b", "--flag", "here"]).stdout.strip() == "here|a,b|True"
    assert run(app, ["-s", "a", "here"]).exit_code != 0  # `here` was taken as a selector: no argument left


@pytest.mark.parametrize("command", ["build", "run", "materialize"])
def test_every_command_with_a_selection_takes_several_values(project, command):
    args = {"build": [], "run": ["--dry-run"], "materialize": ["--end", "2024-01-01"]}[command]
    result = fcompile(command, "-s", "customer_stats", "nosuch", "alsonot", *args, "--project-dir", str(project))
    assert result.returncode == 1, result.stderr
    assert "no node is named 'nosuch'" in result.stderr and "no node is named 'alsonot'" in result.stderr


def run_in_terminal(*args: str, columns: int, cwd: Path) -> tuple[int, str]:
    """The exit code and what a user sees running fcompile in a terminal `columns` wide (stdout and stderr
    a pseudo-terminal), styles and links taken out."""
    import pty
    import re

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "FCOMPILE_PROJECT_DIR"}
    env.update(COLUMNS=str(columns), LINES="50", TERM="xterm")
    process = subprocess.Popen([sys.executable, "-m", "fcompile", *args], cwd=cwd, env=env, stdout=follower,
                               stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=60)
    shown = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\\\", "", b"".join(chunks).decode())
    return code, shown.replace("\r\n", "\n")


def fcompile_in_terminal(*args: str, columns: int, cwd: Path) -> str:
    """What a user sees running fcompile in a terminal `columns` wide; the command must succeed."""
    code, shown = run_in_terminal(*args, columns=columns, cwd=cwd)
    assert code == 0, shown
    return shown


def test_ls_in_a_pipe_prints_plain_lines(project):
    result = fcompile("ls", cwd=project)
    lines = result.stdout.splitlines()
    assert lines[0] == "entity\tcustomer\tkeys: customer_id string\tspecs/shop.yml:2"
    assert all(line == line.rstrip() and len(line.split("\t")) == 4 for line in lines)


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_ls_in_a_terminal_never_cuts_a_name(project, columns):
    long_name = "customer_lifetime_value_statistics_by_week"
    (project / "specs" / "more.yml").write_text(f"feature_views:\n  - name: {long_name}\n    entities: [customer]\n"
                                                "    source: orders_src\n    features: [{name: n, dtype: int64}]\n")
    shown = fcompile_in_terminal("ls", columns=columns, cwd=project)
    assert "…" not in shown and "..." not in shown
    for name in ("customer", "orders_src", "customer_stats", long_name, "churn_v1"):
        assert name in shown, (name, shown)
    too_wide = [line for line in shown.splitlines() if len(line) > columns]
    assert too_wide in ([], [f"feature_view {long_name}"]), shown  # only a name longer than the terminal


# -- option values without pydantic (fcompile/option_values.py) ---------------------------------------------

def every_option():
    """(command path, parameter) for each option and argument of every command, --help included."""
    import click
    from typer.main import get_command

    from fcompile.cli import app

    found = []

    def walk(command, path, ctx):
        for param in command.get_params(ctx):
            found.append((" ".join(path) or "fcompile", param, ctx))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name], click.Context(sub, parent=ctx, info_name=name))

    group = get_command(app)
    walk(group, [], click.Context(group, info_name="fcompile"))
    return found


def test_option_values_are_typers_own_without_pydantic(tmp_path):
    """For every option of every command and values a user may give (its default, words, paths, numbers,
    bad values), the pydantic-free coercion returns what typer's returns, or fails with the same message."""
    from typer._coercion import build_runtime_param

    from fcompile.option_values import plain_coercion

    (tmp_path / "a_file").write_text("")
    values = [None, "", "x", "text", "json", "TEXT", "entity", "nosuch", "0", "1", "-3", "2.5", "1e3", "65536", "true",
              "no", " 7 ", str(tmp_path), str(tmp_path / "a_file"), str(tmp_path / "absent"), "a//b/./c/", ".", "-",
              ["a", "b"], ("c",), [], 0, 1, 2.5, 0.0001, True, False]
    options = every_option()
    assert len(options) > 100
    checked = 0
    for command, param, ctx in options:
        plain = plain_coercion(param)
        if plain is None:
            continue
        typer_own = build_runtime_param(param.type_descriptor)
        for value in [param.default, *values]:
            results = []
            for coercion in (plain, typer_own):
                try:
                    results.append(("ok", coercion.coerce(value, param=param, ctx=ctx)))
                except Exception as error:  # noqa: BLE001 - the same failure is what is compared
                    results.append((type(error).__name__, str(error)))
            assert results[0] == results[1] and type(results[0][1]) is type(results[1][1]), \
                (command, param.name, value, results)
            checked += 1
    assert checked > 3000


def test_validate_imports_no_pydantic(project):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "validate", "--format", "json"],
                          cwd=project, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import re

    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +([\w.]+)$", done.stderr, re.MULTILINE)
    assert "typer" in names and not [name for name in names if name.split(".")[0] == "pydantic"]


def test_a_command_run_alone_behaves_as_in_the_whole_app(tmp_path):
    """`fcompile <command> ...` builds only that command (cli.app_for): its help, its usage errors and its
    bad values print exactly what the whole app prints, for every command."""
    from typer.testing import CliRunner

    from fcompile.cli import app, app_for

    runner = CliRunner()
    names = [name for name, command in command_descriptions().items()]
    groups = {"online", "docs"}
    assert len(names) > 15 and groups <= set(names)
    for name in names:
        assert (app_for([name]) is app) == (name in groups), name
        for args in ([name, "--help"], [name, "--no-such-option"], [name, "--project-dir"], [name, "-t"],
                     [name, "--format", "nosuch"], [name, "--kind", "nosuch"], [name, "--port", "x"]):
            whole = runner.invoke(app, args, prog_name="fcompile", env={"COLUMNS": "100"})
            alone = runner.invoke(app_for(args), args, prog_name="fcompile", env={"COLUMNS": "100"})
            assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
    assert app_for(["--version"]) is app and app_for(["nosuch"]) is app and app_for([]) is app


def test_commands_run_with_typers_own_coercion_when_its_internals_are_missing(project):
    """fcompile/option_values.py builds on typer 0.29's internal modules; where it cannot be imported (another
    typer) the options still parse, through typer's own coercion, and a bad value is still typer's error."""
    code = ("import sys; sys.modules['fcompile.option_values'] = None; sys.argv = ['fcompile', *sys.argv[1:]]; "
            "from fcompile.entry_point import main; main()")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code, "validate", "--project-dir", str(project)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    bad = subprocess.run([sys.executable, "-c", code, "profile", "--project-dir", str(project), "--limit",
                          "many"], capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr, bad.stdout + bad.stderr
