"""The catalog's pages show what later commands would otherwise hide: each profiled view's and dataset's
newest statistics (checked against the TFDV proto `fcompile profile` wrote, read here with
tensorflow-metadata, not through fcompile's reader), and each data test's latest result after a
`materialize` has rewritten target/run_results.json without tests."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import fcompile

statistics_pb2 = pytest.importorskip("tensorflow_metadata.proto.v0.statistics_pb2",
                                     reason="profiles are TFDV protos of tensorflow-metadata")


class StatisticsTable(HTMLParser):
    """The rows of a page's `table.statistics` (feature -> {cell class: text}), the profile's time, path
    and rows, and the data-test rows (test kind and column -> status)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.spans: dict[str, str] = {}
        self.paragraph_codes: list[str] = []
        self._row: str | None = None
        self._cell: str | None = None
        self._span: str | None = None
        self._text: list[str] = []
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "table" and "statistics" in classes:
            self._in_table = True
        elif tag == "tr" and self._in_table and "data-feature" in attrs:
            self._row = attrs["data-feature"]
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None and classes:
            self._cell, self._text = classes[0], []
        elif tag == "span" and classes and classes[0] in ("profiled-at", "profile-rows", "approximate-figures"):
            self._span, self._text = classes[0], []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[self._row][self._cell] = "".join(self._text).strip()
            self._cell = None
        elif tag == "span" and self._span is not None:
            self.spans[self._span] = "".join(self._text).strip()
            self._span = None
        elif tag == "table":
            self._in_table, self._row = False, None

    def handle_data(self, data):
        if self._cell is not None or self._span is not None:
            self._text.append(data)


def read_page(path: Path) -> StatisticsTable:
    parser = StatisticsTable()
    parser.feed(path.read_text("utf-8"))
    return parser


def number(text: str) -> float:
    return float(text.replace(",", ""))


def check_against_proto(page: StatisticsTable, proto_path: Path) -> None:
    """Every figure of the page's table against the proto's (6 significant digits are shown)."""
    [dataset] = statistics_pb2.DatasetFeatureStatisticsList.FromString(proto_path.read_bytes()).datasets
    assert number(page.spans["profile-rows"]) == dataset.num_examples
    assert [".".join(f.path.step) for f in dataset.features] == list(page.rows)
    for feature in dataset.features:
        row = page.rows[".".join(feature.path.step)]
        custom = {c.name: c.str for c in feature.custom_stats}
        kind = feature.WhichOneof("stats")
        stats = getattr(feature, kind)
        assert number(row["count"]) == stats.common_stats.num_non_missing
        assert number(row["nulls"].split()[0]) == stats.common_stats.num_missing
        if "earliest" in custom:  # times and dates: their ISO text, not the epoch numbers
            assert (row["min"], row["max"]) == (custom["earliest"], custom["latest"])
        elif kind == "num_stats":
            for cell, value in (("min", stats.min), ("max", stats.max), ("mean", stats.mean),
                                ("std-dev", stats.std_dev)):
                assert number(row[cell]) == pytest.approx(value, rel=1e-5, abs=1e-9), (feature.path, cell)
        else:
            assert number(row["top"].split()[0]) == stats.unique
            shown = re.findall(r"(\S+) \(([\d,]+)\)", row["top"])
            assert shown == [(t.value, f"{int(t.frequency):,}") for t in stats.top_values[:3]]


@pytest.fixture(scope="module")
def profiled_site(tmp_path_factory) -> dict:
    """The sample, tested, profiled, then materialized (which rewrites run_results.json without tests), with
    one view profiled a second time over a shorter window, and the catalog generated."""
    import datetime as dt

    project = tmp_path_factory.mktemp("catalog_stats") / "driver_ranking"
    outputs = {}
    recent = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")  # seeded: 2 weeks
    for step, args in (("init", ("init", str(project))), ("seed", ("seed",)), ("test", ("test",)),
                       ("profile", ("profile",)), ("materialize", ("materialize",)),
                       ("again", ("profile", "--select", "driver_hourly_stats", "--start", recent)),
                       ("docs", ("docs", "generate"))):
        if step != "init":
            args = (*args, "--project-dir", str(project))
        done = fcompile(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        outputs[step] = done.stdout
        if step == "test":
            outputs["test_results"] = json.loads((project / "target" / "run_results.json").read_text())
    return {"project": project, "outputs": outputs}


def test_each_profiled_views_page_shows_its_newest_profile(profiled_site):
    project, outputs = profiled_site["project"], profiled_site["outputs"]
    profiles = project / "target" / "profiles"
    docs = project / "target" / "docs"
    views = sorted(p.name.split(".", 1)[1] for p in profiles.iterdir())
    assert len(views) >= 5 and "driver_hourly_stats" in views
    for view in views:
        files = sorted(p.name for p in (profiles / f"feature_view.{view}").glob("*.pb"))
        # the newest profile: the second `profile`'s, else the first's (a view with a schema also has the one
        # `fcompile test` wrote before them)
        made_by = outputs["again"] if f"feature_view.{view}:" in outputs["again"] else outputs["profile"]
        newest = re.search(rf"feature_view\.{view}: .* -> (\S+\.pb)", made_by)
        assert newest is not None, view
        page = read_page(docs / "feature_view" / f"{view}.html")
        assert page.rows, view
        check_against_proto(page, project / newest.group(1))
        summary = json.loads((project / newest.group(1)).with_suffix(".json").read_text())
        assert page.spans["profiled-at"] == summary["profiled_at"][:19] + "Z"
        assert page.spans["approximate-figures"] == "Every figure is exact."  # DuckDB's quantiles are exact
    twice = sorted((profiles / "feature_view.driver_hourly_stats").glob("*.pb"))
    assert len(twice) == 2
    first, second = (statistics_pb2.DatasetFeatureStatisticsList.FromString(p.read_bytes()).datasets[0].num_examples
                     for p in twice)
    assert first != second  # so the page's rows tell which one it shows: the newer
    page = read_page(docs / "feature_view" / "driver_hourly_stats.html")
    assert number(page.spans["profile-rows"]) == second
    assert "statistics of" in outputs["docs"]


def test_a_page_of_a_view_never_profiled_has_no_statistics(profiled_site):
    docs = profiled_site["project"] / "target" / "docs"
    page = (docs / "dataset" / "driver_ranking_training.html").read_text("utf-8")
    assert 'id="statistics"' not in page  # not profiled (test_a_profiled_dataset... profiles a copy of it)
    assert 'id="statistics"' not in (docs / "entity" / "driver.html").read_text("utf-8")


def test_the_latest_test_results_survive_a_materialize(profiled_site):
    project = profiled_site["project"]
    after = json.loads((project / "target" / "run_results.json").read_text())
    assert after["metadata"]["command"] == "materialize"
    assert not [r for r in after["results"] if r["node"].startswith("test.")]  # the tests' results are gone here
    tested = {r["node"]: r for r in profiled_site["outputs"]["test_results"]["results"]}
    assert tested
    kept = json.loads((project / "target" / "test_results.json").read_text())
    assert {r["node"]: r["status"] for r in kept["results"]} == {n: r["status"] for n, r in tested.items()}
    finished = profiled_site["outputs"]["test_results"]["metadata"]["finished_at"]
    assert {(r["command"], r["finished_at"]) for r in kept["results"]} == {("test", kept["metadata"]["updated_at"])}
    assert kept["metadata"]["updated_at"] >= finished
    view = (project / "target" / "docs" / "feature_view" / "driver_hourly_stats.html").read_text("utf-8")
    ours = [n for n in tested if n.startswith("test.driver_hourly_stats__")]
    assert len(ours) == 4
    assert view.count('<span class="status status-pass">PASS</span>') == len(ours)
    assert view.count(f"<code>fcompile test</code>, {kept['metadata']['updated_at']})") == len(ours)
    assert "not run yet" not in view


def copy_of(project: Path, folder: Path) -> Path:
    """The project folder copied (data, engine file, target/): tests that run more commands leave the module's
    site as the other tests expect it, in whatever order the workers take them."""
    import shutil

    return Path(shutil.copytree(project, folder / project.name, ignore=shutil.ignore_patterns("*.lock")))


def test_a_test_run_alone_updates_its_entry_and_keeps_the_others(profiled_site, tmp_path):
    project = copy_of(profiled_site["project"], tmp_path)
    path = project / "target" / "test_results.json"
    before = {r["node"]: r for r in json.loads(path.read_text())["results"]}
    one = "driver_lifetime_stats__vehicle_class__accepted_values"
    done = fcompile("test", "--project-dir", str(project), "--select", one, "--now", "2030-01-01T00:00:00")
    assert done.returncode == 0, done.stdout + done.stderr
    after = {r["node"]: r for r in json.loads(path.read_text())["results"]}
    assert set(after) == set(before)
    assert after[f"test.{one}"]["finished_at"] > before[f"test.{one}"]["finished_at"]
    assert {n: r for n, r in after.items() if n != f"test.{one}"} == \
        {n: r for n, r in before.items() if n != f"test.{one}"}


def test_a_profiled_dataset_shows_its_statistics_and_a_run_records_its_tests(profiled_site, tmp_path):
    project = copy_of(profiled_site["project"], tmp_path)
    for args in (("run", "--select", "driver_ranking_training"), ("profile", "--dataset", "driver_ranking_training"),
                 ("docs", "generate")):
        done = fcompile(*args, "--project-dir", str(project))
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        if args[0] == "profile":
            written = re.search(r"-> (\S+\.pb)", done.stdout).group(1)
    page = read_page(project / "target" / "docs" / "dataset" / "driver_ranking_training.html")
    assert len(page.rows) > 3
    check_against_proto(page, project / written)
    kept = json.loads((project / "target" / "test_results.json").read_text())
    assert "run" in {r["command"] for r in kept["results"]}  # `run` tested the dataset's inputs first
