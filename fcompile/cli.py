"""The `fcompile` command: parse arguments, call the stages, print. Nothing else lives here.

Every user error ends as rendered diagnostics and exit code 1; an internal error says so, saves the
traceback to a file and asks for a bug report. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Severity, render_json
from fcompile.version import __version__


def _use_plain_coercion(command, ctx) -> None:
    """fcompile/option_values.py's pydantic-free coercion of the command's options; it builds on typer
    0.29's internal modules, so with a typer that lacks them its own coercion (through pydantic) stays."""
    try:
        from fcompile.option_values import use_plain_coercion
    except ImportError:
        return
    use_plain_coercion(command, ctx)


class _Commands(typer.core.TyperGroup):
    """The command group: `fcompile --help` lists each command with the whole first sentence of its
    docstring, wrapped to the terminal, never cut to "..." (click cuts it to fit one line)."""

    def parse_args(self, ctx, args):
        _use_plain_coercion(self, ctx)  # options' values without pydantic where typer's result is known
        return super().parse_args(ctx, args)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _use_plain_coercion(command, ctx)
        return command

    def format_commands(self, ctx, formatter) -> None:
        rows = [(name, command.get_short_help_str(limit=sys.maxsize)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


MANY_VALUED_OPTIONS = ("select", "exclude")


class _SelectingCommand(typer.core.TyperCommand):
    """A command whose `--select` and `--exclude` take several values, as dbt's do: `-s a b` is `-s a -s b`.
    The values run up to the next word that starts with '-' (an option, or `--`); repeating the option
    works too."""

    def make_parser(self, ctx):
        # click's parser has no option taking a variable number of values; its options are found by flag
        # in `_long_opt`/`_short_opt` (typer vendors click, pinned with typer; tests/test_cli.py checks this)
        parser = super().make_parser(ctx)
        taken = set()
        for param in self.params:
            if param.name not in MANY_VALUED_OPTIONS:
                continue
            for flag in param.opts + param.secondary_opts:
                option = parser._long_opt.get(flag) or parser._short_opt.get(flag)
                if option is not None and id(option) not in taken:
                    taken.add(id(option))
                    option.process = _taking_following_values(option.process)
        return parser


def _taking_following_values(process):
    """An option's `process` that also takes the words after its value, up to the next option."""
    def process_all(value, state) -> None:
        process(value, state)
        while state.rargs and not state.rargs[0].startswith("-"):
            process(state.rargs.pop(0), state)
    return process_all


def _typer_app(name: str, help: str) -> typer.Typer:
    """A command group as every group of the CLI is made: commands listed in order, no shell completion,
    no rich tracebacks or markup (user text prints literally)."""
    return typer.Typer(name=name, help=help, cls=_Commands, add_completion=False, pretty_exceptions_enable=False,
                       rich_markup_mode=None)


app = _typer_app("fcompile", "A feature store built as a compiler: YAML feature definitions in, "
                 "point-in-time-correct SQL out.")

ProjectDir = Annotated[Path, typer.Option(
    "--project-dir", envvar="FCOMPILE_PROJECT_DIR", help="The project folder (holds fcompile_project.yml).",
    show_default="current directory")]
TargetOpt = Annotated[Optional[str], typer.Option(
    "--target", "-t", envvar="FCOMPILE_TARGET", help="Target from fcompile_project.yml (default: default_target).")]


StateOpt = Annotated[Optional[Path], typer.Option(
    "--state", help="The target/ folder of an earlier build (e.g. main's), for --select state:modified: the nodes "
    "new or changed since, state:modified+ with what reads them.")]


def _modified_since(graph, state: Optional[Path]):
    """What `state:modified` names: None without --state, else a function that compiles the project once, the
    first time a selector asks (`fcompile.artifacts.state`)."""
    if state is None:
        return None
    import functools

    from fcompile.artifacts.state import load_previous_build, modified_nodes

    previous = load_previous_build(state)
    return functools.cache(lambda: modified_nodes(graph, previous))


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class NodeKind(str, enum.Enum):
    entity = "entity"
    source = "source"
    push_source = "push_source"
    feature_view = "feature_view"
    feature_service = "feature_service"
    dataset = "dataset"
    test = "test"
    request_source = "request_source"
    on_demand_view = "on_demand_view"


def _version_callback(value: bool) -> None:
    if value:
        print(f"fcompile {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """fcompile: feature definitions as code, compiled to SQL for your warehouse."""


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project (must be empty or absent).")],
    scale: Annotated[float, typer.Option(min=0.001, help="Size of the generated sample data (1 = demo size).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the generated sample data.")] = 42,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="ISO 8601 time the generated data ends at, floored to the minute (naive times are UTC); "
        "the same --as-of, --seed and --scale always give the same data.", show_default="now")] = None,
) -> None:
    """Create the sample project, with its data generated."""
    import datetime as dt

    from fcompile.project_folders import write_gitignore
    from fcompile.sample import init_project

    data_end = _iso_option("--as-of", as_of) or dt.datetime.now(dt.timezone.utc)
    try:
        result = init_project(directory, scale=scale, seed=seed, as_of=data_end)
    except FileExistsError as exc:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, str(exc), None,
                                          "choose a new folder, or empty this one")]) from None
    console = _console()
    from rich.text import Text

    console.print(Text.assemble("Created project in ", (str(result.destination), "bold")))
    for name, rows in sorted(result.rows.items()):
        console.print(f"  seeds/{name}: {rows:,} rows")
    console.print(f"The data ends at {_iso_text(result.data_end)}.", markup=False)
    if write_gitignore(result.destination) is not None:
        console.print("  .gitignore: .fcompile/ and what runs leave in target/")
    console.print(f"Next: fcompile seed --project-dir {result.destination}   (loads seeds/ into the target's tables)")


@app.command(cls=_SelectingCommand)
def seed(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s",
        help="Seeds to load, by name (the file's stem; several values: -s a b); default: every seed.")] = None,
) -> None:
    """Load the project's seeds/ files into tables.

    Each Parquet or CSV file under seeds/ replaces the table of the target's offline engine named by its
    file's stem."""
    from fcompile.parser import load_project
    from fcompile.parser.seeds import find_seeds
    from fcompile.progress import SeedProgressDisplay
    from fcompile.tasks.offline_engine import check_runnable
    from fcompile.tasks.seeds import load_seeds, select_seeds

    graph = load_project(project_dir, target)
    chosen = select_seeds(find_seeds(graph.project.root), select or ())
    console = _console()
    if not chosen:
        console.print("nothing to seed: the project has no Parquet or CSV file under seeds/", markup=False)
        return
    check_runnable(graph.project, "cannot load seeds")

    def report(result) -> None:
        if result.ok:
            console.print(f"seed {result.name}: {result.rows:,} rows into {result.table} in {result.seconds:.2f} s",
                          markup=False)
        else:
            console.print(f"seed {result.name}: failed after {result.seconds:.2f} s", markup=False)

    with _runner(graph) as runner, SeedProgressDisplay(_console(stderr=True), report) as progress:
        results = load_seeds(runner, chosen, progress)
    _print_diagnostics([d for r in results for d in r.diagnostics])
    failed = sum(not r.ok for r in results)
    console.print(f"{len(results) - failed} seeded, {failed} failed (target '{graph.project.target.name}')",
                  markup=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def validate(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    dialect: Annotated[Optional[str], typer.Option(
        "--dialect", help="Also check that this SQL dialect, or 'all', can compile every node "
        "(default: the target's offline type).")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="text, or json for CI annotations.")]
    = OutputFormat.text,
) -> None:
    """Check every spec file and that the target's dialect compiles it.

    Prints all problems at once (exit code 1 if any is an error) and writes nothing to target/."""
    from fcompile.graph import KINDS
    from fcompile.parser import parse_project

    result = parse_project(project_dir, target)
    graph, diagnostics, dialects = result.graph, result.diagnostics, ()
    if graph is not None:
        from fcompile.artifacts.build import compile_project, resolve_dialects
        from fcompile.diagnostics import sort_diagnostics

        try:
            dialects = resolve_dialects(graph, dialect)
            diagnostics = sort_diagnostics([*diagnostics, *compile_project(graph, dialects).diagnostics])
        except DiagnosticError as exc:  # an unknown --dialect: reported like the rest (JSON included)
            diagnostics = [*diagnostics, *exc.diagnostics]
    failed = graph is None or any(d.severity is Severity.ERROR for d in diagnostics)
    if output_format is OutputFormat.json:
        print(render_json(diagnostics))
        if failed:
            raise typer.Exit(1)
        return
    _print_diagnostics(diagnostics)
    if failed:
        raise typer.Exit(1)
    schemas = sum(v.schema is not None for v in graph.feature_views)

    def counted(kind: str, nodes: list) -> str:
        text = f"{len(nodes)} {KINDS[kind].replace('_', ' ') if len(nodes) != 1 else kind.replace('_', ' ')}"
        if kind == "test" and schemas:  # `fcompile test` also checks the views that name a schema
            text = f"{len(nodes)} data {text.split(' ', 1)[1]} + the schema checks of {schemas} feature " + \
                ("view" if schemas == 1 else "views")
        return text

    counts = ", ".join(counted(kind, nodes) for kind, nodes in graph.by_kind()
                       if nodes or kind not in _SHOWN_WHEN_PRESENT or (kind == "test" and schemas))
    from rich.text import Text

    _console().print(Text.assemble(("ok", "green"), f": project '{graph.project.name}' (target "
                                   f"'{graph.project.target.name}'): {counts}; compiles for {', '.join(dialects)}"))


@app.command("ls", cls=_SelectingCommand)
def list_nodes(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    kind: Annotated[Optional[NodeKind], typer.Option(help="Only this kind of node.")] = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Nodes to list (same syntax as build; several values: -s a b).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    state: StateOpt = None,
) -> None:
    """List the project's nodes (or the selected ones).

    Entities, sources, push sources, feature views, feature services and datasets: a table on a terminal,
    one tab-separated line per node in a pipe (kind, name, details, where defined), JSON with --json."""
    from fcompile.artifacts.selection import select_nodes
    from fcompile.listing import describe_nodes, plain_lines, where_defined
    from fcompile.parser import load_project

    graph = load_project(project_dir, target)
    chosen = set(select_nodes(graph, select or (), exclude or (), _modified_since(graph, state))) \
        if select or exclude else None
    rows = describe_nodes(graph, kind.value if kind else None, chosen)
    if as_json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return
    root = graph.project.root
    console = _console()
    if not console.is_terminal:  # a pipe or a file: one plain line per node, for grep, cut and sort
        for line in plain_lines(rows, root):
            print(line)
        return
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    name_width = max((len(r["kind"]) + len(r["name"]) for r in rows), default=0)
    if name_width + 40 > console.width:  # too narrow for a table: a block per node, names whole
        for row in rows:
            console.print(f"{row['kind']} {row['name']}", style="bold", markup=False)
            details = Text(f"{row['summary']}\n{where_defined(row, root)}", overflow="fold")
            console.print(Padding(details, (0, 0, 0, 2), expand=False), soft_wrap=False)
        return

    table = Table(show_edge=False, header_style="bold")
    for column in ("kind", "name"):
        table.add_column(column, no_wrap=True)
    for column in ("details", "defined at"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["kind"], row["name"], row["summary"], where_defined(row, root))
    console.print(table)


@app.command()
def schema(
    out: Annotated[Optional[Path], typer.Option(help="Write every schema into this folder.")] = None,
    kind: Annotated[str, typer.Option(help="Which schema to print when --out is not given: spec, project or manifest.")]
    = "spec",
) -> None:
    """Print or write the JSON Schemas for editors.

    The schemas of fcompile's files, for editors to validate and complete spec files."""
    from fcompile.parser.structure import SCHEMA_FILES, load_schema

    if out is None:
        if kind not in SCHEMA_FILES:
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"unknown schema kind '{kind}'", None,
                                              "use --kind spec, project or manifest")])
        print(json.dumps(load_schema(kind), indent=2))  # type: ignore[arg-type]
        return
    out.mkdir(parents=True, exist_ok=True)
    console = _console()
    for name, file_name in sorted(SCHEMA_FILES.items()):
        target_file = out / f"fcompile_{file_name}"
        target_file.write_text(json.dumps(load_schema(name), indent=2) + "\n", encoding="utf-8")  # type: ignore[arg-type]
        console.print(f"wrote {target_file}")
    console.print("Point your editor at them, e.g. in each spec file:\n"
                  f"  # yaml-language-server: $schema={out / 'fcompile_spec.schema.json'}")


DialectOpt = Annotated[Optional[str], typer.Option(
    "--dialect", help="A SQL dialect (default: the target's offline type).")]


@app.command(cls=_SelectingCommand)
def build(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    dialect: Annotated[Optional[str], typer.Option(
        "--dialect", help="A SQL dialect, or 'all' (default: the target's offline type).")] = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Nodes to build: name, +name, name+, tag:key, tag:key=value; "
        "several values (-s a b) for union, commas for intersection.")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    target_path: Annotated[Optional[Path], typer.Option(
        help="Output folder (relative to the current directory, as every path on the command line).",
        show_default="the project's target/")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 listing stale, missing and extra files if the output "
        "folder differs from what a build would write.")] = False,
    state: StateOpt = None,
) -> None:
    """Compile SQL for the selected nodes into target/.

    One file per feature view, feature service and dataset and dialect, with a manifest."""
    from fcompile.artifacts.build import (
        check_target, compile_project, expected_target, resolve_dialects, summarize, write_target,
    )
    from fcompile.parser import load_project

    graph = load_project(project_dir, target)
    dialects = resolve_dialects(graph, dialect)
    result = compile_project(graph, dialects, select or (), exclude or (), state=_modified_since(graph, state))
    out = target_path.expanduser().resolve() if target_path is not None else Path(graph.project.root) / "target"
    target_path = target_path or Path("target")  # how messages name it
    state = expected_target(graph, result, out)
    _print_diagnostics(result.diagnostics)
    console = _console()
    if not result.selected:
        console.print("note: the selection holds no feature view, feature service or dataset; nothing to compile "
                      "(entities and sources produce no SQL: select 'name+' for what reads them)")
    if not result.ok:
        errors = len(result.diagnostics)
        for line in summarize(result):
            console.print(line, markup=False)
        if check:
            console.print(f"{target_path} could not be checked: the build has {errors} error{'s' * (errors != 1)} "
                          "(above), so what it would write is unknown", markup=False)
        else:
            console.print(f"build failed: {errors} error{'s' * (errors != 1)}; nothing written, {target_path} is as "
                          "it was", markup=False)
        raise typer.Exit(1)
    if check:
        report = check_target(state)
        for label, paths in (("stale", report.stale), ("missing", report.missing), ("extra", report.extra)):
            for path in paths:
                console.print(f"{label + ':':8s} {target_path / path}", markup=False)
        if report.up_to_date:
            console.print(f"{target_path} is up to date ({report.checked} files checked)", markup=False)
        else:
            console.print(f"{target_path} is out of date: {len(report.stale)} stale, {len(report.missing)} missing, "
                          f"{len(report.extra)} extra; run 'fcompile build' and commit the result", markup=False)
        if not report.up_to_date:
            raise typer.Exit(1)
        return
    write_target(state)
    for line in summarize(result):
        console.print(line, markup=False)
    console.print(f"wrote {target_path / 'compiled'} and {target_path / 'manifest.json'}", markup=False)


@app.command("compile")
def compile_query(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    service: Annotated[Optional[str], typer.Option(help="Print this feature service's retrieve SQL.")] = None,
    view: Annotated[Optional[str], typer.Option(help="Print this feature view's materialization SQL.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Print this dataset's build SQL.")] = None,
    dialect: DialectOpt = None,
) -> None:
    """Print the SQL of one service, view or dataset.

    It is what `fcompile build` writes for that node."""
    from fcompile.artifacts.build import compile_one
    from fcompile.parser import load_project

    chosen = [(kind, name) for kind, name in (("feature_service", service), ("feature_view", view),
                                               ("dataset", dataset)) if name is not None]
    if len(chosen) != 1:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "name exactly one of --service, --view, --dataset",
                                          None, "e.g. fcompile compile --service driver_activity_v1")])
    graph = load_project(project_dir, target)
    sys.stdout.write(compile_one(graph, chosen[0][0], chosen[0][1], dialect))


class PlanFormat(str, enum.Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


@app.command(cls=_SelectingCommand)
def plan(
    state: Annotated[Path, typer.Option(
        "--state", help="The target/ folder of the build to compare with (e.g. main's, downloaded by CI).")],
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Only these nodes (same syntax as build; state:modified works too).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    output_format: Annotated[PlanFormat, typer.Option(
        "--format", help="text; markdown for a pull-request comment; json for tools.")] = PlanFormat.text,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Count the source rows each view to refresh in full would read, on the target's "
        "offline engine (one COUNT per view); an unreachable engine is a note in the plan.")] = False,
) -> None:
    """Print what a merge would change, compared with an earlier build.

    Each changed node with its class (metadata only, compatible, recompute, breaking) and why, its compiled
    SQL diff per dialect, and the views `fcompile materialize --full-refresh` must load again (with
    --estimate, about how many rows each reads). Exit code 2 when a change is breaking, else 0. Writes
    nothing."""
    from fcompile.artifacts.plan import make_plan
    from fcompile.artifacts.plan_report import RENDERERS
    from fcompile.artifacts.state import load_previous_build
    from fcompile.parser import load_project

    previous = load_previous_build(state)
    graph = load_project(project_dir, target)
    made = make_plan(graph, previous, select or (), exclude or ())
    if estimate:
        made = _with_estimates(graph, made)
    sys.stdout.write(RENDERERS[output_format.value](made))
    if made.exit_code:
        raise typer.Exit(made.exit_code)


@app.command(cls=_SelectingCommand)
def run(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Datasets and feature views to run (same syntax as build).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    end: Annotated[Optional[str], typer.Option(
        help="ISO 8601 end of the materialization window (naive times are UTC).", show_default="now")] = None,
    materialize_views_too: Annotated[bool, typer.Option(
        "--materialize/--no-materialize", help="Also load the selected online feature views into the target's "
        "online store (incrementally, as `fcompile materialize`).")] = True,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print what would run - each dataset's SQL and each view's window - and run nothing.")]
    = False,
    skip_tests: Annotated[bool, typer.Option(
        "--skip-tests", help="Build even when an error-severity data test on the inputs fails (tests not run).")]
    = False,
    state: StateOpt = None,
) -> None:
    """Build the selected datasets and materialize views.

    The data tests on what they read run first: a dataset or view whose inputs fail an error-severity test is
    left as it was (--skip-tests overrides). Datasets are written into their outputs, the selected online
    feature views are loaded into the online store; what happened is written to target/run_results.json."""
    import contextlib
    import datetime as dt

    from fcompile.artifacts.selection import select_nodes
    from fcompile.parser import load_project
    from fcompile.tasks.datasets import run_datasets, run_results_document, write_run_results
    from fcompile.tasks.locks import hold_materialization
    from fcompile.tasks.offline_engine import check_runnable

    window_end = _iso_option("--end", end) or _now_in_seconds()
    graph = load_project(project_dir, target)
    refs = select_nodes(graph, select or (), exclude or (), _modified_since(graph, state))
    datasets = [graph.dataset(r.name) for r in refs if r.kind == "dataset"]
    views = [graph.feature_view(r.name) for r in refs if r.kind == "feature_view"] if materialize_views_too else []
    console, progress = _console(), _RunProgress(_console(stderr=True))
    if select:
        for view in (v for v in views if not v.online):
            progress.console.print(f"note: feature view {view.name} is offline only (online: false); skipped",
                                   markup=False)
        others = sum(r.kind not in ("dataset", "feature_view") for r in refs)
        if others:
            progress.console.print(f"note: run builds datasets and materializes feature views; {others} other "
                                   "selected node(s) ignored", markup=False)
    views = [v for v in views if v.online]
    if not datasets and not views:
        console.print("nothing to run: the selection holds no dataset" +
                      (" and no online feature view" if materialize_views_too else ""), markup=False)
        return
    check_runnable(graph.project)  # FC111 before anything runs, for a compile-only target
    if dry_run:
        _print_dry_run(graph, datasets, views, window_end, console, skip_tests)
        return
    started = dt.datetime.now(dt.timezone.utc)
    results, viewed = [], []
    with contextlib.ExitStack() as stack:
        # the materialization locks before the engine opens: a run elsewhere is FC129, not the engine's file lock
        store = stack.enter_context(hold_materialization(graph)) if views else None
        runner = stack.enter_context(_runner(graph))
        gate, datasets, views, held = _gate_run(graph, runner, datasets, views, skip_tests, console)  # issue 18
        if datasets:
            with progress:
                results = run_datasets(graph, runner, datasets, progress.start, progress.done)
        if views:
            viewed = _materialize(graph, runner, store, views, window_end)
    results, viewed = [*held[0], *results], [*held[1], *viewed]
    document = run_results_document(graph, results, started, dt.datetime.now(dt.timezone.utc))
    if gate:
        from fcompile.tasks.data_tests import data_test_entries
        from fcompile.tasks.test_results import record_test_results

        tested = data_test_entries(gate.results, graph.project.root)
        document["results"] = tested + document["results"]
        record_test_results(graph, tested, "run", dt.datetime.now(dt.timezone.utc))
    if viewed:
        from fcompile.tasks.materialize import materialize_result_entries

        document["results"] += materialize_result_entries(graph, viewed)
    from fcompile.tasks.materialize import run_results_path

    write_run_results(run_results_path(graph), document)
    tested = gate.results if gate else ()
    _print_diagnostics([d for r in [*tested, *results, *viewed] for d in r.diagnostics], hints_once=True)
    if not _print_results(console, results, viewed):
        raise typer.Exit(1)


def _with_estimates(graph, made):
    """`plan --estimate`: the plan with the row counts of its full refreshes, or with a note saying why the
    target's offline engine could not give them."""
    from dataclasses import replace

    from fcompile.tasks.offline_engine import check_runnable
    from fcompile.tasks.plan_estimates import estimate_full_refresh

    views = [v for v in made.materialize.full_refresh if v in {fv.name for fv in graph.feature_views}]
    estimates, note = (), None
    if views:
        try:
            check_runnable(graph.project)
            with _runner(graph) as runner:
                estimates = estimate_full_refresh(graph, runner, views, _now_in_seconds())
        except DiagnosticError as error:
            note = f"the target's offline engine cannot be reached: {error.diagnostics[0].message}"
    return replace(made, materialize=replace(made.materialize, estimates=estimates, estimate_note=note,
                                             estimated=True))


def _gate_run(graph, runner, datasets, views, skip_tests: bool, console):
    """`run`'s data tests (issue 18): run the tests on the inputs first, print them, and hold back the datasets
    and views an error-severity failure blocks; returns the gate, what may run, and the held-back results."""
    from fcompile.tasks.data_tests import blocked_diagnostic, gate_run
    from fcompile.tasks.datasets import DatasetResult
    from fcompile.tasks.materialize import ViewResult

    if skip_tests:
        console.print("tests skipped (--skip-tests): datasets and views are built whatever their data tests say",
                      markup=False)
        return None, datasets, views, ([], [])
    gate = gate_run(graph, runner, datasets, views, on_done=lambda r: _print_test_result(console, r))
    if not gate.results:
        return None, datasets, views, ([], [])
    held_datasets = [DatasetResult(d.name, "error", None, 0.0, {d.output.kind: d.output.locator},
                                   (blocked_diagnostic("dataset", d.name, gate.blocked_datasets[d.name], d.location),))
                     for d in datasets if d.name in gate.blocked_datasets]
    held_views = [ViewResult(v.name, "error", None, None, None, 0.0,
                             (blocked_diagnostic("feature_view", v.name, gate.blocked_views[v.name], v.location),))
                  for v in views if v.name in gate.blocked_views]
    return (gate, [d for d in datasets if d.name not in gate.blocked_datasets],
            [v for v in views if v.name not in gate.blocked_views], (held_datasets, held_views))


# kinds the `parse` summary names only when the project has some (older projects' output unchanged)
_SHOWN_WHEN_PRESENT = ("push_source", "test", "request_source", "on_demand_view")


@app.command("test")
def test(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Tests to run, or views and sources whose tests run (same syntax as build).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Tests to leave out (same syntax).")] = None,
    store_failures: Annotated[bool, typer.Option(
        "--store-failures", help="Write each test's failing rows to a table fcompile_failures__<test> in the "
        "target's schema (replaced each run).")] = False,
    now: Annotated[Optional[str], typer.Option(
        help="ISO 8601 time freshness tests compare the newest event time with (naive times are UTC).",
        show_default="now")] = None,
    state: StateOpt = None,
) -> None:
    """Run the project's data tests on the target's engine.

    A line per test (PASS, WARN, FAIL or ERROR, the failing rows and a few of them), a summary, and
    target/run_results.json (and each test's latest result in target/test_results.json); exits 1 when an
    error-severity test fails or a test cannot run."""
    import datetime as dt

    from fcompile.parser import load_project
    from fcompile.tasks.data_tests import data_test_document, run_data_tests, select_tests
    from fcompile.tasks.datasets import write_run_results
    from fcompile.tasks.materialize import run_results_path
    from fcompile.tasks.offline_engine import check_runnable
    from fcompile.tasks.schema_checks import run_schema_checks, views_with_schema
    from fcompile.tasks.test_results import record_test_results

    moment = _iso_option("--now", now) or dt.datetime.now(dt.timezone.utc)
    graph = load_project(project_dir, target)
    modified = _modified_since(graph, state)
    tests = select_tests(graph, select or (), exclude or (), modified)
    schema_views = views_with_schema(graph, select or (), exclude or (), modified)
    console = _console()
    if not tests and not schema_views:
        console.print("nothing to test: the selection holds no data test", markup=False)
        return
    check_runnable(graph.project)
    started = dt.datetime.now(dt.timezone.utc)
    with _runner(graph) as runner:
        results = run_data_tests(graph, runner, tests, moment, store_failures,
                                 on_done=lambda r: _print_test_result(console, r))
        results += run_schema_checks(graph, runner, schema_views, on_done=lambda r: _print_test_result(console, r))
    document = data_test_document(graph, results, started, dt.datetime.now(dt.timezone.utc))
    write_run_results(run_results_path(graph), document)
    record_test_results(graph, document["results"], "test", dt.datetime.now(dt.timezone.utc))
    _print_diagnostics([d for r in results for d in r.diagnostics], hints_once=True)  # tests that could not run
    counts = {status: sum(r.status == status for r in results) for status in ("pass", "warn", "fail", "error")}
    checks = sum(r.kind == "schema" for r in results)
    made_of = f": {len(results) - checks} data {_plural(len(results) - checks, 'test')}, {checks} schema " \
        f"{_plural(checks, 'check')}" if checks else ""
    console.print(f"{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed, {counts['error']} "
                  f"{_plural(counts['error'], 'error')} ({len(results)} {_plural(len(results), 'test')}{made_of}); "
                  "wrote target/run_results.json", markup=False)
    if any(r.blocks for r in results):
        raise typer.Exit(1)


@app.command("profile", cls=_SelectingCommand)
def profile(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Feature views to profile, or sources whose views are profiled (same syntax as "
        "build).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option(
        "--dataset", help="Profile this built dataset's features (where `fcompile run` wrote it) instead of views; "
        "repeatable.")] = None,
    start: Annotated[Optional[str], typer.Option(
        help="ISO 8601 start of the rows profiled, by event time (a dataset: its spine's time); naive times are "
        "UTC.")] = None,
    end: Annotated[Optional[str], typer.Option(help="ISO 8601 end of the rows profiled (inclusive).")] = None,
    infer_schema: Annotated[bool, typer.Option(
        "--infer-schema", help="Also write a TFDV Schema (text proto) inferred from each profile, to "
        "schemas/<view>.pbtxt in the project (or --output).")] = False,
    output: Annotated[Optional[Path], typer.Option(
        "--output", help="With --infer-schema and one profile: where to write the schema (relative to the current "
        "directory).")] = None,
    compare: Annotated[Optional[str], typer.Option(
        "--compare", help="Print each profile's drift from this reference: a .pb profile file, "
        "dataset:NAME / feature_view:NAME for that node's latest profile, or previous for each node's own newest "
        "earlier profile (PSI and Jensen-Shannon for numbers, L-infinity for "
        "strings, the change of NULL fraction) and check the views' drift: thresholds.")] = None,
    value_ranges: Annotated[bool, typer.Option(
        "--value-ranges", help="With --infer-schema: give each number the range the profile saw (int_domain, "
        "float_domain).")] = False,
    state: StateOpt = None,
    online: Annotated[bool, typer.Option(
        "--online", help="Training/serving skew instead of statistics: compare the values the online store holds "
        "for --view's keys with the values a training set computes for them at the same time.")] = False,
    view: Annotated[Optional[str], typer.Option(
        "--view", help="With --online: the feature view to compare.")] = None,
    at: Annotated[Optional[str], typer.Option(
        "--at", help="With --online: ISO 8601 time to compare at (naive times are UTC).",
        show_default="the view's materialization watermark")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", help="With --online: compare every key up to this many, a uniform random sample of this many "
        "beyond.")] = 10_000,  # DEFAULT_LIMIT of fcompile/tasks/online_skew.py (a test checks they agree)
    seed: Annotated[Optional[int], typer.Option(
        "--seed", help="With --online: the seed of the random sample (the same seed picks the same keys).",
        show_default="a random one, written in the report")] = None,
    max_mismatch: Annotated[Optional[float], typer.Option(
        "--max-mismatch", help="With --online: exit 1 when the share of keys that differ in any feature is above "
        "this fraction (0 to 1).")] = None,
) -> None:
    """Compute feature statistics in the warehouse, or training/serving skew.

    Statistics, written as TFDV protos: counts, NULLs, min, max, mean, standard deviation, zeros, quantiles and
    a histogram of numbers; distinct counts, top values and average length of strings; earliest and latest
    times. Written under
    target/profiles/<node>/ as a DatasetFeatureStatisticsList (.pb and .pbtxt) and a JSON summary. With
    --compare, the `drift:` thresholds a view declares are checked (a line per check, results in
    target/run_results.json and test_results.json). Exits 1 when a profile cannot be made or an error-severity
    drift check fails. With --online --view V: per feature, the share of V's keys whose online
    and offline values differ, written to target/profiles/feature_view.V/skew-<time>.json."""
    given = {"--select": bool(select), "--exclude": bool(exclude), "--dataset": bool(dataset),
             "--start": start is not None, "--end": end is not None, "--infer-schema": infer_schema,
             "--output": output is not None, "--compare": compare is not None, "--value-ranges": value_ranges,
             "--state": state is not None}
    if online or view is not None:
        _profile_online(project_dir, target, online, view, at, limit, seed, max_mismatch,
                        [option for option, used in given.items() if used])
        return
    skew_only = [option for option, used in (("--at", at is not None), ("--limit", limit != 10_000),
                                             ("--seed", seed is not None), ("--max-mismatch", max_mismatch is not None))
                 if used]
    if skew_only:
        verb = "goes" if len(skew_only) == 1 else "go"
        raise DiagnosticError([Diagnostic(Code.SKEW_ARGUMENT, f"{', '.join(skew_only)} {verb} with --online", None,
                                          "add --online --view VIEW to compare a view's online values with its "
                                          "offline ones")])
    import datetime as dt

    from fcompile.parser import load_project
    from fcompile.tasks.offline_engine import check_runnable
    from fcompile.tasks.profile_files import statistics_protos, write_profile
    from fcompile.tasks.profiles import (
        describe_feature, plan_profile, profile_plan, select_profiled, select_unprofiled,
    )

    window_start, window_end = _iso_option("--start", start), _iso_option("--end", end)
    if window_start is not None and window_end is not None and window_start > window_end:
        raise DiagnosticError([Diagnostic(Code.PROFILE_WINDOW, f"--start {start} is after --end {end}", None,
                                          "swap them, or leave one out for an open window")])
    statistics_protos()  # FC167 before any query runs
    graph = load_project(project_dir, target)
    if dataset and (select or exclude):
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "--dataset profiles datasets; --select and --exclude "
                                          "choose views: give one or the other", None, None)])
    chosen = select_profiled(graph, select or (), exclude or (), dataset or ())
    if (output is not None or value_ranges) and not infer_schema:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"{'--output' if output is not None else '--value-ranges'}"
                                          " goes with --infer-schema", None, "add --infer-schema")])
    if infer_schema and output is not None and len(chosen) > 1:
        raise DiagnosticError([Diagnostic(Code.SCHEMA_OUTPUT, f"--output names one schema file, and {len(chosen)} "
                                          "profiles are made", None, "select one view (or dataset), or leave "
                                          "--output out to write schemas/<name>.pbtxt for each")])
    console = _console()
    unprofiled = [] if dataset else select_unprofiled(graph, select or (), exclude or ())
    if not chosen:
        console.print("nothing to profile: the selection holds no feature view with a plain feature", markup=False)
        _print_unprofiled(console, graph, unprofiled)
        return
    reference = None
    if compare is not None and compare != "previous":
        from fcompile.tasks.profile_compare import read_statistics, reference_path

        reference = read_statistics(reference_path(graph.project.root, compare, {
            "feature_view": [v.name for v in graph.feature_views], "dataset": [d.name for d in graph.datasets]}),
            compare)
    check_runnable(graph.project)
    problems = []
    drift_checks: list = []
    started = dt.datetime.now(dt.timezone.utc)
    with _runner(graph) as runner:
        for kind, name in chosen:
            plan = plan_profile(graph, kind, name, window_start, window_end)
            try:
                made = profile_plan(runner, plan)
                if compare == "previous":
                    reference = _previous_profile(graph.project.root, plan.node)
            except DiagnosticError as error:
                problems += error.diagnostics
                console.print(f"ERROR {plan.node}: {error.diagnostics[0].message}", markup=False)
                continue
            files = write_profile(made, graph.project.root, graph.project.target.name)
            approximate = [what for what, exact in (("quantiles", made.exact_quantiles),
                                                    ("distinct counts", made.exact_distinct_count)) if not exact]
            console.print(f"{plan.node}: {made.rows:,} {_plural(made.rows, 'row')}, {len(made.features)} "
                          f"{_plural(len(made.features), 'feature')} ({made.seconds:.2f} s) -> {files['binary']}"
                          + (f" (approximate {' and '.join(approximate)})" if approximate else ""), markup=False)
            for feature in made.features:
                console.print("  " + describe_feature(feature), markup=False)
            if compare is not None and reference is None:
                console.print(f"  drift from previous: no earlier profile of {plan.node} to compare with",
                              markup=False)
            elif reference is not None:
                from fcompile.tasks.drift_checks import check_drift
                from fcompile.tasks.profile_compare import compare_statistics, drift_table
                from fcompile.tasks.profile_files import to_statistics

                drifts = compare_statistics(reference, to_statistics([made]).datasets[0])
                if drifts:
                    console.print(f"  drift from {compare}:", markup=False)
                    for line in drift_table(drifts):
                        console.print("    " + line, markup=False)
                else:
                    console.print(f"  drift from {compare}: the reference ({reference.name}) has none of this "
                                  f"{'view' if kind == 'feature_view' else 'dataset'}'s features", markup=False)
                checked = check_drift(graph.feature_view(name), drifts) if kind == "feature_view" else []
                for check in checked:
                    _print_drift_check(console, check)
                drift_checks += checked
            if infer_schema:
                from fcompile.tasks.feature_schemas import infer_schema as infer, schema_path, write_schema

                path = str(output.expanduser().absolute()) if output is not None else \
                    schema_path(graph.project.root, name)
                write_schema(infer(made, value_ranges), path,
                             f"TFDV Schema of {plan.node}, inferred by `fcompile profile --infer-schema`.\n"
                             "Review it like a spec file: `fcompile test` checks the view's statistics against it.")
                console.print(f"  schema -> {os.path.relpath(path, graph.project.root)}", markup=False)
            if made.skipped:
                console.print(f"  not profiled (aggregated over windows): {', '.join(made.skipped)}", markup=False)
    _print_unprofiled(console, graph, unprofiled)
    if drift_checks:
        _record_drift_checks(graph, console, drift_checks, started)
    _print_diagnostics(problems, hints_once=True)
    if problems or any(c.blocks for c in drift_checks):
        raise typer.Exit(1)


def _print_unprofiled(console, graph, views: list[str]) -> None:
    """A line per selected view that `fcompile profile` leaves out: every feature of it is aggregated."""
    for name in views:
        count = len(graph.feature_view(name).aggregated_features)
        console.print(f"feature_view.{name}: not profiled: its {count} {_plural(count, 'feature')} "
                      f"{'is' if count == 1 else 'are'} aggregated over windows (no column of their own)",
                      markup=False)


def _previous_profile(root: str, node: str) -> object:
    """`--compare previous`: the statistics of `node`'s newest profile before the one being made, or None."""
    from fcompile.tasks.profile_compare import read_statistics
    from fcompile.tasks.profile_files import latest_profile_path

    path = latest_profile_path(root, node)
    return None if path is None else read_statistics(path, f"previous ({os.path.relpath(path, root)})")


def _profile_online(project_dir: Path, target: Optional[str], online: bool, view: Optional[str],
                    at: Optional[str], limit: int, seed: Optional[int], max_mismatch: Optional[float],
                    statistics_options: list[str]) -> None:
    """`fcompile profile --online --view V`: training/serving skew (fcompile/tasks/online_skew.py)."""
    from fcompile.online import connect_online_store
    from fcompile.parser import load_project
    from fcompile.tasks.offline_engine import check_runnable
    from fcompile.tasks.online_skew import (
        check_skew_arguments, measure_skew, sample_lines, skew_table, skew_view, write_skew_report,
    )

    problems = []
    if not online:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, "--view goes with --online", None,
                                   f"fcompile profile --online --view {view}"))
    elif view is None:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, "--online compares one feature view: name it with --view",
                                   None, "e.g. fcompile profile --online --view driver_hourly_stats"))
    if statistics_options:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, f"{', '.join(statistics_options)} "
                                   f"{'is an option' if len(statistics_options) == 1 else 'are options'} of statistics "
                                   "profiles, not of --online", None, "run them as two commands"))
    try:
        check_skew_arguments(limit, max_mismatch, seed)
    except DiagnosticError as error:
        problems += error.diagnostics
    if problems:
        raise DiagnosticError(problems)
    moment = _iso_option("--at", at)
    graph = load_project(project_dir, target)
    skew_view(graph, view)  # FC196 before the engine or the store is opened
    check_runnable(graph.project)
    with _runner(graph) as runner, connect_online_store(graph.project) as store:
        report = measure_skew(graph, runner, store, view, moment, limit, seed)
    path = write_skew_report(report, graph.project.root)
    console = _console()
    when = "its watermark" if report.at_basis == "watermark" else "--at"
    which = (f"a random sample of {report.compared:,} of {report.keys_held:,} keys (seed {report.seed})"
             if report.sampled else f"all {report.compared:,} {_plural(report.compared, 'key')} it holds")
    console.print(f"feature view {report.view}: online ({report.store}) against offline ({report.dialect}) at "
                  f"{report.at.strftime('%Y-%m-%dT%H:%M:%SZ')} ({when}), {which} ({report.seconds:.2f} s) -> {path}",
                  markup=False, highlight=False)
    for line in skew_table(report):
        console.print("  " + line, markup=False, highlight=False)
    if report.unreadable:
        console.print(f"  {report.unreadable:,} sampled {_plural(report.unreadable, 'key')} of the store do not "
                      "fit the view's join keys (written before their dtypes changed?) and were not compared",
                      markup=False, highlight=False)
    samples = sample_lines(report)
    if samples:
        console.print("  differing keys (a few per feature):", markup=False)
        for line in samples:
            console.print("    " + line, markup=False, highlight=False)
    if max_mismatch is not None:
        over = [f for f in report.features if f.share > max_mismatch]
        if over:
            _print_diagnostics([Diagnostic(
                Code.SKEW_EXCEEDED, f"feature view '{report.view}': {f.differing:,} of {f.compared:,} keys "
                f"({f.share:.2%}) differ in '{f.name}', above --max-mismatch {max_mismatch:g}", None,
                "look at the differing keys above: a push that bypassed the offline log, or a materialization "
                "that did not run, are the usual causes") for f in over], hints_once=True)
            raise typer.Exit(1)


def _print_drift_check(console, check) -> None:
    """A drift check's line: its status, name, the figure and the threshold."""
    from rich.text import Text

    styles = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    console.print(Text.assemble("    ", (check.status.upper().ljust(6), styles[check.status]),
                                f"{check.name}: {check.message}"))


def _record_drift_checks(graph, console, checks, started) -> None:
    """The summary of the drift checks, and their results in target/run_results.json and test_results.json."""
    import datetime as dt

    from fcompile.tasks.drift_checks import drift_result_entries
    from fcompile.tasks.materialize import run_results_path
    from fcompile.tasks.run_results import run_results_metadata, write_run_results
    from fcompile.tasks.test_results import record_test_results

    finished = dt.datetime.now(dt.timezone.utc)
    entries = drift_result_entries(checks)
    write_run_results(run_results_path(graph), {"metadata": run_results_metadata(graph, "profile", started, finished),
                                                "results": entries})
    record_test_results(graph, entries, "profile", finished)
    counts = {status: sum(c.status == status for c in checks) for status in ("pass", "warn", "fail", "skip")}
    console.print(f"drift checks: {counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed, "
                  f"{counts['skip']} skipped ({len(checks)} {_plural(len(checks), 'check')}); wrote "
                  "target/run_results.json", markup=False)


def _print_test_result(console, result) -> None:
    """A data test's line: its status, name, failing rows (or why it failed) and time; then a few failing rows."""
    from rich.text import Text

    styles = {"pass": "green", "warn": "yellow", "fail": "red", "error": "red"}
    line = Text.assemble((result.status.upper().ljust(6), styles[result.status]), result.name)
    if result.status == "error":
        line.append(f": {result.message}")
    elif result.failures:
        line.append(f": {result.message}" if result.message else
                    f": {result.failures:,} failing {_plural(result.failures, 'row')}")
    line.append(f" ({result.seconds:.2f} s)")
    console.print(line)
    for line in result.sample_lines() if result.failures else ():
        console.print("      " + line, markup=False)
    if result.stored_in:
        console.print(f"      failing rows stored in {result.stored_in}", markup=False)


def _runner(graph):
    """The target's runner; one that starts slowly (Spark) says so on stderr while it starts."""
    from fcompile.tasks.offline_engine import open_runner

    return open_runner(graph.project, _note_on_stderr())


def _note_on_stderr():
    notes = _console(stderr=True)
    return lambda message: notes.print(message, markup=False)


def _print_dry_run(graph, datasets, views, end, console, skip_tests: bool = False) -> None:
    """What `run` would do (`fcompile.tasks.dry_run`): the data tests it runs first, each dataset's compiled
    SQL, each view's window as far as it is known without reading the offline engine, and the bytes each
    would scan where the engine says."""
    from fcompile.tasks.dry_run import dry_run

    def cost(scanned: int | None) -> str:
        return f"; would scan {scanned:,} bytes" if scanned is not None else ""

    planned = dry_run(graph, datasets, views, end, _note_on_stderr(), skip_tests)
    console.print(f"dry run on target '{graph.project.target.name}' ({planned.dialect}): nothing is run or written",
                  markup=False)
    if skip_tests:
        console.print("\ndata tests: skipped (--skip-tests)", markup=False)
    elif planned.tests:
        console.print(f"\n{len(planned.tests)} data {_plural(len(planned.tests), 'test')} first (an error-severity "
                      "failure holds back the datasets and views that read what it tests):", markup=False)
        for test in planned.tests:
            console.print(f"  {test.name} ({test.severity}) on {test.tested}", markup=False, highlight=False)
    for dataset in planned.datasets:
        console.print(f"\ndataset {dataset.name} -> {dataset.output}{cost(dataset.scanned_bytes)}:", markup=False)
        console.print(dataset.sql, markup=False, highlight=False, soft_wrap=True)
    if planned.views:
        console.print("", markup=False)
        if planned.store_problem is not None:
            console.print(f"note: {planned.store_problem}", markup=False)
    for view in planned.views:
        window = view.window
        basis = {"watermark": "from its watermark minus its lateness", "ttl": "first run: end - ttl",
                 "earliest": "first run: from the earliest data"}[window.basis]
        if not view.watermark_known:
            basis += "; its watermark is unknown, the online store could not be read"
        start = _iso_text(window.start) if window.start is not None else "earliest data"
        console.print(f"feature view {view.name} -> online store: [{start}, {_iso_text(window.end)}] "
                      f"({basis}){cost(view.scanned_bytes)}", markup=False, highlight=False)
    _print_diagnostics(list(planned.diagnostics))
    if planned.diagnostics:
        raise typer.Exit(1)


def _iso_text(moment) -> str:
    import datetime as dt

    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _materialize(graph, runner, store, views, end, start=None, full_refresh: bool = False,
                 batch_rows: int | None = None) -> list:
    """Materialize `views` into `store` (whose locks the caller holds: `hold_materialization`), with a
    progress display on stderr."""
    from fcompile.progress import MaterializeProgressDisplay
    from fcompile.tasks.materialize import BATCH_ROWS, materialize_views

    with MaterializeProgressDisplay(_console(stderr=True)) as progress:
        return materialize_views(graph, runner, store, views, end, start, full_refresh, progress,
                                 batch_rows or BATCH_ROWS)


def _now_in_seconds():
    """Now (UTC) in whole seconds: the default end of a window, printed without a fraction."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _print_results(console, datasets: list, views: list) -> bool:
    """What `run`/`materialize` did: a line per dataset and per feature view (a failure names its codes; the
    diagnostics are printed before), a summary, then each hint about views that read nothing, once. True
    when nothing failed."""
    from fcompile.tasks.materialize import materialize_hints

    both = bool(datasets and views)
    entries = [(f"dataset {r.name}" if both else r.name, r, _dataset_message(r)) for r in datasets]
    entries += [(f"feature view {r.view}" if both else r.view, r, r.message) for r in views]
    width = max(len(label) for label, _, _ in entries)
    for label, result, message in entries:
        seconds = f" ({result.seconds:.2f} s)"
        if result.ok:  # a plain string: off a terminal, printed without rich (fcompile/console.py)
            console.print(f"{label.ljust(width + 2)}{message}{seconds}", markup=False)
        else:
            from rich.text import Text

            codes = ", ".join(dict.fromkeys(f"{d.severity.value}[{d.code.value}]" for d in result.diagnostics))
            console.print(Text.assemble(label.ljust(width + 2), (f"failed: {codes or 'error'} above", "red"), seconds))
    built = sum(r.ok for r in datasets)
    counts = [f"{built} {_plural(built, 'dataset')} built"] if datasets else []
    outcomes = [r.outcome for r in views]
    named = False
    for outcome, label in (("loaded", "loaded"), ("empty", "read no rows"), ("up to date", "up to date")):
        number = outcomes.count(outcome)
        if number:
            counts.append(f"{number} {label}" if named else f"{number} {_plural(number, 'feature view')} {label}")
            named = True
    failed = sum(not r.ok for r in [*datasets, *views])
    console.print(", ".join([*counts, f"{failed} failed"]) + "; wrote target/run_results.json", markup=False)
    for hint in materialize_hints(views):
        console.print(f"hint: {hint}", markup=False)
    return not failed


def _dataset_message(result) -> str:
    where = " ".join(next(iter(result.output.items())))
    return f"built {result.rows:,} rows into {where}" if result.rows is not None else f"built {where}"


def _plural(number: int, noun: str) -> str:
    return noun if number == 1 else noun + "s"


class _RunProgress:
    """A spinner per dataset on a terminal, gone when the dataset is done (its line is in the summary); a
    line per dataset as it starts otherwise (CI logs, pipes)."""

    def __init__(self, console) -> None:
        self.console = console
        self.live = None

    def __enter__(self) -> _RunProgress:
        if self.console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, dataset) -> None:
        if self.live is not None:
            self.task = self.live.add_task(f"dataset {dataset.name}", total=None)
        else:
            self.console.print(f"running dataset {dataset.name}", markup=False)

    def done(self, result) -> None:
        if self.live is not None:
            self.live.update(self.task, total=1, completed=1)


@app.command("get-historical-features")
def get_historical_features(
    spine: Annotated[str, typer.Option(
        help="The spine: a Parquet/CSV path, a table of the target's database, or a SELECT/WITH query.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    service: Annotated[Optional[str], typer.Option(help="The feature service to retrieve.")] = None,
    features: Annotated[Optional[list[str]], typer.Option(
        help="view:feature references, comma-separated, the option repeatable.")] = None,
    timestamp_column: Annotated[Optional[str], typer.Option(
        help="The spine's timestamp column (default: event_timestamp, else its only timestamp column).")] = None,
    full_feature_names: Annotated[bool, typer.Option(
        "--full-feature-names", help="Name feature columns view__feature.")] = False,
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
) -> None:
    """Write a point-in-time-correct training set.

    A Parquet file: the rows of the spine, each with the feature values as of its timestamp."""
    import time

    from fcompile.sdk import FeatureStore

    references = _feature_references(service, features)
    started = time.perf_counter()
    with FeatureStore(project_dir, target) as store:
        job = store.get_historical_features(spine, references, service, full_feature_names,
                                            timestamp_column)
        rows = job.to_parquet(output)
    console = _console()
    console.print(f"wrote {rows:,} rows to {output} in {time.perf_counter() - started:.2f} s", markup=False)
    if job.matches_compiled_file:
        console.print(f"ran target/{job.compiled_file} as built (sha256 {job.compiled_sha256[:12]}), the spine "
                      "supplied as fcompile_spine", markup=False, highlight=False)
    elif job.mismatch is not None:
        # not a problem: the same planner and renderer as the file's, for this request's spine (a note, so on
        # stderr: stdout keeps what was written)
        _console(stderr=True).print(f"note: ran SQL planned for this request (the same point-in-time join), not "
                      f"target/{job.compiled_file} as built: {job.mismatch}", markup=False, highlight=False)


@app.command(cls=_SelectingCommand)
def materialize(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    start: Annotated[Optional[str], typer.Option(
        help="ISO 8601 start of the event-time window (naive times are UTC). Default: the view's watermark "
        "minus its lateness; on a first run end - ttl, or the earliest data.")] = None,
    end: Annotated[Optional[str], typer.Option(help="ISO 8601 end of the window (naive times are UTC).",
                                               show_default="now")] = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", "-s", help="Feature views to load (same syntax as build; other kinds are ignored).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Nodes to leave out (same syntax).")] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Ignore the watermarks and load each view's whole first-run window again "
        "(nothing is deleted first).")] = False,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", min=1, help="Rows per batch read from the offline engine and committed to the store.")]
    = 100_000,
    reset_watermark: Annotated[bool, typer.Option(
        "--reset-watermark", help="Only unset the watermark of each selected view (stored values are kept) and "
        "load nothing; the next run loads each view's first-run window. Takes no --start, --end or "
        "--full-refresh.")] = False,
    state: StateOpt = None,
) -> None:
    """Load new feature values into the online store.

    Each selected online feature view is loaded incrementally from its watermark."""
    import datetime as dt

    from fcompile.artifacts.selection import select_nodes
    from fcompile.parser import load_project
    from fcompile.tasks.locks import hold_materialization
    from fcompile.tasks.materialize import check_window_arguments, record_materialization

    if reset_watermark:
        _check_reset_arguments(start, end, full_refresh)
    window_end = _iso_option("--end", end) or _now_in_seconds()
    window_start = _iso_option("--start", start)
    check_window_arguments(window_start, window_end)
    graph = load_project(project_dir, target)
    refs = select_nodes(graph, select or (), exclude or (), _modified_since(graph, state))
    views = [graph.feature_view(r.name) for r in refs if r.kind == "feature_view"]
    console, notes = _console(), _console(stderr=True)
    if select:
        for view in (v for v in views if not v.online):
            notes.print(f"note: feature view {view.name} is offline only (online: false); skipped", markup=False)
        if len(refs) > len(views):
            notes.print(f"note: materialize loads feature views only; {len(refs) - len(views)} other "
                        "selected node(s) ignored", markup=False)
    views = [v for v in views if v.online]
    if not views:
        console.print("nothing to materialize: the selection holds no online feature view", markup=False)
        return
    if reset_watermark:
        _reset_watermarks(graph, views, console, _next_materialize(project_dir, target, select, exclude))
        return
    started = dt.datetime.now(dt.timezone.utc)
    # the materialization locks before the engine opens: a run elsewhere is FC129, not the engine's file lock
    with hold_materialization(graph) as store, _runner(graph) as runner:
        results = _materialize(graph, runner, store, views, window_end, window_start, full_refresh, batch_rows)
    record_materialization(graph, results, started)
    _print_diagnostics([d for r in results for d in r.diagnostics], hints_once=True)
    if not _print_results(console, [], results):
        raise typer.Exit(1)


def _check_reset_arguments(start: Optional[str], end: Optional[str], full_refresh: bool) -> None:
    """FC090 for `--reset-watermark` with options that would load something: the reset only unsets."""
    given = [option for option, value in (("--start", start), ("--end", end), ("--full-refresh", full_refresh))
             if value]
    if given:
        raise DiagnosticError([Diagnostic(
            Code.BAD_ARGUMENT, f"--reset-watermark only unsets watermarks and loads nothing; it takes no "
            f"{', '.join(given)}", None, "--full-refresh alone reads each view's window again and sets its "
            "watermark, whatever it was; or reset first, read what it printed, then run fcompile materialize "
            f"with {' '.join(g for g in given if g != '--full-refresh') or 'the options you need'}")])


def _reset_watermarks(graph, views, console, next_command: str) -> None:
    """`materialize --reset-watermark`: a line per view (the watermark it had, now unset), then what to run."""
    from fcompile.tasks.materialize import reset_watermarks

    resets = reset_watermarks(graph, views)
    width = max(len(r.view) for r in resets)
    for reset in resets:
        if reset.previous is not None:
            what = f"watermark was {_iso_text(reset.previous)}; now unset"
        else:
            what = "had no watermark (never materialized, or reset before); unchanged"
        console.print(f"{reset.view.ljust(width + 2)}{what}", markup=False)
    unset = sum(r.previous is not None for r in resets)
    console.print(f"{unset} {_plural(unset, 'watermark')} unset, {len(resets) - unset} had none; the stored values "
                  "are kept and nothing was loaded", markup=False)
    console.print(f"next: {next_command}   (loads each view's first-run window: end - ttl, or from the earliest "
                  "data)", markup=False)


def _next_materialize(project_dir: Path, target: Optional[str], select: Optional[list[str]],
                      exclude: Optional[list[str]]) -> str:
    """The `fcompile materialize` command that loads the views a reset was given."""
    import shlex

    words = ["fcompile", "materialize"]
    if project_dir != Path("."):
        words += ["--project-dir", str(project_dir)]
    if target is not None:
        words += ["--target", target]
    for option, values in (("--select", select), ("--exclude", exclude)):
        if values:
            words += [option, *values]
    return " ".join(shlex.quote(word) for word in words)


def _iso_option(option: str, text: Optional[str]):
    """An ISO 8601 date or time from the command line, as UTC (naive times are UTC)."""
    from fcompile.online.values import parse_moment

    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"{option} {text!r} is not an ISO 8601 date or time",
                                          None, "e.g. 2024-05-01, 2024-05-01T12:00:00 (UTC) or "
                                          "2024-05-01T14:00:00+02:00")]) from None


@app.command("get-online-features")
def get_online_features(
    entity: Annotated[list[str], typer.Option(
        "--entity", "-e", help="A join key value, key=value; repeat for more entities (driver_id=1001). Request "
        "fields of on-demand features the same way, one per entity (-e order_amount=10.5).")],
    service: Annotated[Optional[str], typer.Option(help="The feature service to read.")] = None,
    features: Annotated[Optional[list[str]], typer.Option(
        help="view:feature references, comma-separated, the option repeatable.")] = None,
    full_feature_names: Annotated[bool, typer.Option(
        "--full-feature-names", help="Name features view__feature.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the response as JSON, shaped like Feast's feature server's.")] = False,
    now: Annotated[Optional[str], typer.Option(
        help="ISO 8601 moment of the max-age check (naive times are UTC), e.g. to replay a past request.",
        show_default="now")] = None,
    require_present: Annotated[bool, typer.Option(
        "--require-present", help="Exit with code 1 unless every value is PRESENT (for smoke tests).")] = False,
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
) -> None:
    """Read feature values from the online store.

    A table and a count of the values' statuses, or JSON shaped like Feast's feature server's with --json."""
    from collections import Counter

    from fcompile.sdk import FeatureStore
    from fcompile.tasks.online_reads import (
        NOT_FOUND, OUTSIDE_MAX_AGE, PRESENT, never_materialized, parse_entity_text,
    )

    references = _feature_references(service, features)
    with FeatureStore(project_dir, target) as store:
        entities = parse_entity_text(store.graph, entity)
        response = store.read_online(references, service, full_feature_names, entities, _iso_option("--now", now),
                                     "cli")
        request = store.planned_online_request(references, service, full_feature_names)
        warning = never_materialized(store.online_store, (read.view.name for read in request.reads),
                                     settings=dict(store.graph.project.target.online))
    if warning is not None:
        _console(stderr=True).print(warning.render(), markup=False, highlight=False)
    document = response.to_http_dict()
    features = document["results"][len(response.key_names):]  # the join keys' columns come first
    statuses = Counter(status for column in features for status in column["statuses"])
    if as_json:
        print(response.to_http_json(indent=2))
    else:
        from fcompile.float32_text import float32_text

        marks = {NOT_FOUND: "(not found)", OUTSIDE_MAX_AGE: "(outside max age)"}
        single = set(response.float32_results)

        def shown(value, status: str, float32: bool) -> str:
            # a value that is there is shown whatever its status: an on-demand feature computed from a value
            # not found has one (its status is the worst of its inputs')
            if value is None:
                return marks.get(status) or "NULL"
            if float32 and isinstance(value, float):
                return float32_text(value)
            if float32 and isinstance(value, list):
                return "[" + ", ".join("NULL" if v is None else float32_text(v) for v in value) + "]"
            return str(value)

        cells = [[shown(value, status, i in single) for value, status in zip(c["values"], c["statuses"])]
                 for i, c in enumerate(document["results"])]
        console = _console()
        _print_online_values(console, document["metadata"]["feature_names"], cells, len(response.key_names))
        counted = ", ".join(f"{count:,} {status}" for status, count in sorted(statuses.items()))
        total = sum(statuses.values())
        console.print(f"{total:,} value{'s' * (total != 1)}: {counted or 'none'}", markup=False)
    missing = sum(count for status, count in statuses.items() if status != PRESENT)
    if require_present and missing:
        _console(stderr=True).print(f"error: {missing:,} of {sum(statuses.values()):,} values are not PRESENT "
                                    f"(--require-present)", markup=False)
        raise typer.Exit(1)


def _print_online_values(console, names: list[str], cells: list[list[str]], keys: int) -> None:
    """An online read's values, `cells` a column of texts per name (the `keys` join keys first): a row per
    entity when that fits the console's width; else a row per name and a column per entity, the entities
    in groups that fit, so that no name or value is broken (a single value wider than the console folds)."""
    from rich.table import Table
    from rich.text import Text

    cells = [[Text(cell) for cell in column] for column in cells]  # user text: no markup, no highlighting
    entities = len(cells[0]) if cells else 0
    wide = Table(show_edge=False, header_style="bold")
    for name in names:
        wide.add_column(name, no_wrap=True)
    for row in range(entities):
        wide.add_row(*(column[row] for column in cells))
    def fits(table: Table) -> bool:  # its natural width (rich's measure is capped at the width it is given)
        return console.measure(table, options=console.options.update_width(1 << 20)).maximum <= console.width

    if fits(wide):
        console.print(wide)
        return

    def transposed(group: range) -> Table:
        table = Table(show_edge=False, show_header=False)
        table.add_column(no_wrap=True)
        for _ in group:
            table.add_column(overflow="fold")
        for i, (name, column) in enumerate(zip(names, cells)):
            table.add_row(Text(name), *(column[e] for e in group), style="bold" if i < keys else None,
                          end_section=i == keys - 1)
        return table

    start = 0
    while start < entities:
        end = start + 1
        while end < entities and fits(transposed(range(start, end + 1))):
            end += 1
        if start:
            console.print()  # a blank line between groups
        console.print(transposed(range(start, end)))
        start = end


def _feature_references(service: str | None, features: list[str] | None) -> list[str] | None:
    """The `--features` list (None with `--service`), every option's comma-separated references in order;
    exactly one of the two must be given."""
    features = features or None
    if (service is None) == (features is None):
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "name exactly one of --service and --features", None,
                                          "e.g. --service driver_activity_v1, or --features view:feature,view:*")])
    return [f.strip() for option in features for f in option.split(",") if f.strip()] if features is not None else None


@app.command()
def serve(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    host: Annotated[Optional[str], typer.Option(
        help="Address to listen on.", show_default="the target's serving.host, else 127.0.0.1")] = None,
    port: Annotated[Optional[int], typer.Option(
        min=1, max=65535, help="Port to listen on.", show_default="the target's serving.port, else 6566")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each reads on its own event loop).")] = 1,
    reload_interval: Annotated[float, typer.Option(
        "--reload-interval", min=0, help="Seconds between looks for changed project files; 0 never reloads.")]
    = 1.0,
    request_timeout: Annotated[float, typer.Option(
        "--request-timeout", min=0.1, help="Seconds a client may take to send its request headers (then the "
        "connection is closed), and again its body (then 408).")] = 10.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request (method, path, status).")]
    = False,
) -> None:
    """Serve online features over HTTP, like Feast.

    Endpoints: /get-online-features, /push, /write-to-online-store, /materialize, /materialize-incremental,
    /health, /metrics, /openapi.json, and read-only metadata under /api/v1/ (entities, feature_views,
    feature_services, datasets, lineage)."""
    import dataclasses

    from fcompile.serving.server import (
        DEFAULT_HOST, DEFAULT_PORT, ServeConfig, check_project, check_server_packages, run_server,
    )

    check_server_packages()
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"unknown --log-level '{log_level}'", None,
                                          "use debug, info, warning or error")])
    config = ServeConfig(str(project_dir.resolve()), target, reload_interval, request_timeout)
    settings, warnings = check_project(config)
    _print_diagnostics(warnings)
    config = dataclasses.replace(config, max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers)
    run_server(config, host or settings.host or DEFAULT_HOST, port or settings.port or DEFAULT_PORT, workers,
               log_level.lower(), access_log)


@app.command()
def push(
    push_source: Annotated[str, typer.Argument(help="The push source the rows are for.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="The rows: a Parquet or CSV file, named as the columns "
                                       "of the push source's batch source.")],
    to: Annotated[str, typer.Option(help="online, offline or online_and_offline.")] = "online",
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
) -> None:
    """Push rows to a push source (online and/or offline).

    Online, rows go into the online store (newer wins); offline, they are appended to the push source's
    batch source."""
    from fcompile.sdk import FeatureStore
    from fcompile.tasks.push_values import read_rows_file

    rows = read_rows_file(str(file))
    with FeatureStore(project_dir, target) as fs:
        result = fs.push(push_source, rows, to)
    views = ", ".join(result.views_written) or "none"
    _console().print(f"pushed {result.rows:,} row{'s' * (result.rows != 1)} to '{push_source}': online views "
                     f"written: {views}; rows appended offline: {result.offline_rows:,}", markup=False)


online_app = _typer_app("online", "Work on the rows of the online store directly: delete entity keys.")
app.add_typer(online_app, name="online")


@online_app.callback(invoke_without_command=True)
def _online(ctx: typer.Context) -> None:
    """Work on the rows of the online store directly: delete entity keys."""
    if ctx.invoked_subcommand is None:  # a bare `fcompile online` shows its commands
        print(ctx.get_help())


@online_app.command("delete")
def online_delete(
    view: Annotated[str, typer.Option("--view", help="The online feature view whose rows are deleted.")],
    entity: Annotated[list[str], typer.Option(
        "--entity", "-e", help="A join key value, key=value, as for get-online-features; repeat for more entities "
        "(-e driver_id=1001 -e driver_id=1002), and give every key of a composite key (-e driver_id=1001 "
        "-e city=Paris).")],
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
) -> None:
    """Delete the rows of entity keys from one online feature view.

    Each key's row is deleted from the target's online store (in one commit), whatever its event time; the
    view's watermark stays. Prints which keys were deleted and which held nothing; a key that held nothing
    is not an error."""
    from fcompile.sdk import FeatureStore
    from fcompile.tasks.online_deletes import key_text, online_feature_view
    from fcompile.tasks.online_reads import parse_entity_text

    with FeatureStore(project_dir, target) as store:
        online_feature_view(store.graph, view)  # an unknown view before its keys: they cannot be checked
        entities = parse_entity_text(store.graph, entity)
        result = store.delete_online(view, entities)
    console = _console()
    for label, keys in (("deleted", result.deleted), ("not found", result.not_found)):
        for key in keys:
            console.print(f"{label:10s} {key_text(result.key_names, key)}", markup=False)
    deleted, missing = len(result.deleted), len(result.not_found)
    console.print(f"feature view {result.view}: {deleted} {_plural(deleted, 'key')} deleted, {missing} not found "
                  f"(target '{store.graph.project.target.name}')", markup=False)


docs_app = _typer_app("docs", "The catalog site: the project's pages, search and lineage graph.")
app.add_typer(docs_app, name="docs")


@docs_app.callback(invoke_without_command=True)
def _docs(ctx: typer.Context) -> None:
    """The catalog site: the project's pages, search and lineage graph."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())


SiteDir = Annotated[Optional[Path], typer.Option(
    "--site-dir", help="The site's folder (relative to the current directory).", show_default="the project's target/docs")]


@docs_app.command("generate")
def docs_generate(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
    dialect: Annotated[Optional[str], typer.Option(
        "--dialect", help="The SQL dialects the pages show: a name, or 'all'.",
        show_default="the dialects of the last build in target/compiled, else the target's")] = None,
    site_dir: SiteDir = None,
) -> None:
    """Write the catalog site to target/docs/ (static: opens from the disk).

    A page per entity, source, feature view, service and dataset (description, owner, tags, spec file and line,
    features and dtypes, ttl, who uses it, compiled SQL, the latest data-test results and profile statistics),
    a search box over every name, description and tag, and a lineage graph down to a feature's source column."""
    from fcompile.catalog.site import DOCS, project_catalog, site_dialects, write_site
    from fcompile.parser import load_project

    graph = load_project(project_dir, target)
    target_folder = Path(graph.project.root) / "target"
    catalog = project_catalog(graph, site_dialects(graph, dialect, target_folder), target_folder)
    folder = site_dir.expanduser().resolve() if site_dir is not None else target_folder / DOCS
    report = write_site(catalog, folder)
    tests = ""
    if report.tests_shown:
        plain = report.tests_shown - sum(n for _, n in report.checks_shown)
        parts = [f"{plain} data-test"] + [f"{n} {kind}-check" for kind, n in report.checks_shown]
        tests = f", {' + '.join(parts) if report.checks_shown else parts[0]} results"
    tests += f", statistics of {report.profiles_shown} profiled nodes" if report.profiles_shown else ""
    _console().print(f"wrote {report.pages} pages ({report.bytes / 1e6:.1f} MB; SQL for "
                     f"{', '.join(report.dialects) or 'no dialect'}{tests}) to {folder}", markup=False)
    _console().print(f"open {(folder / 'index.html').as_uri()} or run 'fcompile docs serve'", markup=False)


@docs_app.command("serve")
def docs_serve(
    project_dir: ProjectDir = Path("."),
    site_dir: SiteDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")] = 8080,
) -> None:
    """Serve the catalog site that 'fcompile docs generate' wrote, over HTTP.

    Read-only files of target/docs/; Ctrl+C stops."""
    from fcompile.catalog.serve import catalog_server, serve_catalog
    from fcompile.catalog.site import DOCS

    folder = site_dir.expanduser().resolve() if site_dir is not None else project_dir.resolve() / "target" / DOCS
    server = catalog_server(folder, host, port)
    serve_catalog(server, lambda line: _console().print(line, markup=False))


@app.command()
def debug(
    project_dir: ProjectDir = Path("."),
    target: TargetOpt = None,
) -> None:
    """Check the target's connections and credentials.

    One line per check: the versions, the project file, the offline engine and online store (where they
    are, never a password), their drivers, the environment variables the target names (set or not, never
    their values) and a connection to each. The exit code is 1 if a check fails."""
    from fcompile.target_checks import check_target

    console = _console()
    failed = checked = skipped = 0
    labels = {True: ("ok", "green"), False: ("fail", "red"), None: ("skip", "yellow")}
    for check in check_target(project_dir, target):
        label, style = labels[check.ok]
        checked += 1
        failed += check.ok is False
        skipped += check.ok is None
        console.print(f"{label:5s}", style=style, markup=False, end=" ")
        console.print(f"{check.name + ':':20s} {check.detail}", markup=False)
        if check.hint and check.ok is False:
            console.print(f"{'':6s}{'':21s}hint: {check.hint}", markup=False)
    if failed:
        console.print(f"{failed} of {checked} checks failed", markup=False)
        raise typer.Exit(1)
    console.print(f"no check failed ({skipped} skipped)" if skipped else "all checks passed", markup=False)


@app.command()
def clean(
    project_dir: ProjectDir = Path("."),
    remove_all: Annotated[bool, typer.Option(
        "--all", help="Also remove the data of local targets in .fcompile/ (a DuckDB database, a SQLite "
        "online store and its watermarks): all of .fcompile/.")] = False,
) -> None:
    """Remove target/ and the caches in .fcompile/.

    The data of local targets in .fcompile/ (the sample's DuckDB database and SQLite online store) is kept
    unless --all is given. Nothing outside the project folder is touched."""
    from fcompile.project_folders import clean_project

    cleaned = clean_project(project_dir, remove_all)
    console = _console()
    for path in cleaned.removed:
        console.print(f"removed {path}", markup=False)
    if not cleaned.removed:
        console.print("nothing to remove", markup=False)
    if cleaned.kept:
        console.print(f"kept {', '.join(cleaned.kept)} (local data; --all removes it)", markup=False)


# -- running the app -------------------------------------------------------------------------------

def _console(stderr: bool = False):
    """Where a command prints: rich on a terminal, plain writes of its strings off one (fcompile/console.py)."""
    from fcompile.console import console_for

    return console_for(stderr)


def _print_diagnostics(diagnostics: list[Diagnostic], hints_once: bool = False) -> None:
    """Each diagnostic, then a count. `hints_once`: a hint already printed is not repeated (the views of a
    run that fail for one cause share it)."""
    if not diagnostics:
        return
    import dataclasses

    console = _console(stderr=True)
    printed: set[str] = set()
    for d in diagnostics:
        style = "red" if d.severity is Severity.ERROR else "yellow"
        if hints_once and d.hint in printed:
            d = dataclasses.replace(d, hint=None)
        printed.add(d.hint or "")
        head, _, rest = d.render().partition("\n")
        console.print(head, style=style, markup=False)
        if rest:
            console.print(rest, markup=False)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    console.print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}",
                  markup=False)


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs `args`. When they start with the name of a command (not of a group), the usual
    `fcompile validate ...`: the app with that command alone, since typer builds the options of every
    command it holds from their signatures when it starts (a sixth of a warm `validate`). Otherwise (the
    help, --version, a group, a misspelt command: what they print may name every command) the whole app."""
    import copy

    from typer.main import get_command_name

    if not args:
        return app
    for info in app.registered_commands:
        if (info.name or get_command_name(info.callback.__name__)) == args[0]:
            alone = copy.copy(app)
            alone.registered_commands, alone.registered_groups = [info], []
            return alone
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `fcompile` script: maps every failure to a clean message and exit code."""
    args = (sys.argv[1:] if argv is None else argv) or ["--help"]  # a bare `fcompile` shows the help
    try:
        # Without standalone mode, typer.Exit comes back as the return value instead of exiting.
        code = app_for(args)(args=args, prog_name="fcompile", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except DiagnosticError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        ctx = getattr(exc, "ctx", None)
        hint = f"see '{ctx.command_path} --help'" if ctx is not None else "see 'fcompile --help'"
        _print_diagnostics([Diagnostic(Code.BAD_ARGUMENT, exc.format_message(), None, hint)])
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # an fcompile bug: say so, keep the traceback out of the user's way
        report = Path(tempfile.gettempdir()) / "fcompile-crash.txt"
        try:
            report.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"the details are in {report}"
        except OSError:
            where = "run again with FCOMPILE_DEBUG=1 for details"
        if os.environ.get("FCOMPILE_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              f"  this is a bug in fcompile {__version__}; please report it ({where})", file=sys.stderr)
        sys.exit(2)
