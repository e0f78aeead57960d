"""`fcompile clean`: build output and caches go, local data stays (unless --all), nothing outside the
project is touched; `fcompile init` writes a .gitignore."""

import fcntl
import os

from test_cli import assert_clean, fcompile
from test_cli import project  # noqa: F401  (fixture)


def build_and_cache(project) -> None:
    assert fcompile("build", "--project-dir", str(project)).returncode == 0
    state = project / ".fcompile"
    assert (state / "parse-cache.bin").is_file() and (state / "compile-cache.sqlite").is_file()
    (state / "online.db").write_bytes(b"data")  # what a local target keeps there
    (state / "spark-warehouse").mkdir()
    (project / "target" / "run_results.json").write_text("{}")


def test_clean_removes_build_output_and_caches_and_keeps_data(project):
    build_and_cache(project)
    result = fcompile("clean", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "removed target/", "removed .fcompile/parse-cache.bin", "removed .fcompile/compile-cache.sqlite",
        "kept .fcompile/online.db, .fcompile/spark-warehouse/ (local data; --all removes it)"]
    assert not (project / "target").exists()
    assert sorted(p.name for p in (project / ".fcompile").iterdir()) == ["online.db", "spark-warehouse"]
    assert (project / "specs" / "shop.yml").is_file() and (project / "fcompile_project.yml").is_file()
    again = fcompile("clean", cwd=project)
    assert again.returncode == 0 and again.stdout.startswith("nothing to remove")


def test_clean_all_removes_the_local_data_too(project):
    build_and_cache(project)
    result = fcompile("clean", "--all", cwd=project)
    assert result.stdout.splitlines() == ["removed target/", "removed .fcompile/"]
    assert sorted(p.name for p in project.iterdir()) == ["fcompile_project.yml", "specs"]


def test_clean_never_follows_a_link_out_of_the_project(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "precious.txt").write_text("keep me")
    (project / "target").symlink_to(outside, target_is_directory=True)
    (project / ".fcompile").mkdir()
    (project / ".fcompile" / "parse-cache.bin").symlink_to(outside / "precious.txt")
    result = fcompile("clean", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    assert not (project / "target").exists() and not (project / ".fcompile" / "parse-cache.bin").is_symlink()
    assert (outside / "precious.txt").read_text() == "keep me"


def test_clean_outside_a_project_removes_nothing(tmp_path):
    (tmp_path / "target").mkdir()
    result = fcompile("clean", "--project-dir", str(tmp_path))
    assert result.returncode == 1 and "error[FC003]" in result.stderr and "nothing removed" in result.stderr
    assert (tmp_path / "target").is_dir()
    assert_clean(result)


def test_clean_refuses_while_a_materialization_runs(project):
    build_and_cache(project)
    handle = os.open(project / "target" / ".materialize.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = fcompile("clean", "--project-dir", str(project))
    finally:
        os.close(handle)
    assert result.returncode == 1 and "error[FC129]" in result.stderr
    assert (project / "target" / "manifest.json").is_file()


def test_init_writes_a_gitignore_that_keeps_the_compiled_sql_versioned(tmp_path):
    result = fcompile("init", str(tmp_path / "sample"))
    assert result.returncode == 0 and ".gitignore" in result.stdout
    ignored = [line for line in (tmp_path / "sample" / ".gitignore").read_text().splitlines()
               if line and not line.startswith("#")]
    assert ignored == [".fcompile/", "target/run_results.json", "target/test_results.json",
                       "target/.test_results.lock", "target/.materialize.lock", "target/docs/"]
