"""docs/reference/cli.md, diagnostics.md and spec-format.md are generated from the code; a stale page fails."""

from fcompile import reference_docs
from fcompile.diagnostics import CODE_MEANINGS, Code


def test_every_diagnostic_code_has_a_meaning():
    assert [code.value for code in Code if not CODE_MEANINGS.get(code, "").strip()] == []


def test_the_generated_pages_are_deterministic():
    assert reference_docs.render_pages() == reference_docs.render_pages()


def test_the_committed_reference_pages_are_up_to_date():
    stale = reference_docs.stale_pages()
    assert stale == [], f"stale pages under docs/reference/: {stale}; run python -m fcompile.reference_docs"


def test_the_pages_name_every_command_code_and_key():
    pages = reference_docs.render_pages()
    assert all(f"| {code.value} |" in pages["diagnostics.md"] for code in Code)
    for command in ("init", "validate", "ls", "schema", "build", "compile", "run", "materialize", "serve", "push",
                    "get-historical-features", "get-online-features", "seed", "debug", "clean", "online delete"):
        assert f"## fcompile {command}\n" in pages["cli.md"]
    assert "`--project-dir`" in pages["cli.md"] and "`FCOMPILE_PROJECT_DIR`" in pages["cli.md"]
    for key in ("`ttl`", "`lateness`", "`push.batch_source`", "`output.path`", "`serving.auth.tokens[].token`",
                "`staging_dir`", "`default_target`"):
        assert key in pages["spec-format.md"], key


def test_codes_are_listed_by_code_with_the_severity_they_are_reported_at():
    rows = [line.split(" | ") for line in reference_docs.render_pages()["diagnostics.md"].splitlines()
            if line.startswith("| FC")]
    codes = [row[0].removeprefix("| ") for row in rows]
    assert codes == sorted(codes)
    severity = {row[0].removeprefix("| "): row[2] for row in rows}
    assert severity["FC190"] == "warning" and severity["FC016"] == "warning"  # never errors
    assert severity["FC062"] == "error or warning" and severity["FC192"] == "error"
    for code, meaning in CODE_MEANINGS.items():  # a meaning that says "A warning" is a code only warned of
        assert not meaning.startswith("A warning") or severity[code.value] == "warning", code


def test_the_drift_keys_show_the_types_the_parser_accepts():
    page = reference_docs.render_pages()["spec-format.md"]
    for key in ("max_psi", "max_js", "max_linf", "max_null_fraction_diff"):
        assert f"| `drift.{key}` | number |" in page and f"| `features[].drift.{key}` | number |" in page
    assert "| `drift.severity` | one of `error`, `warn` |" in page
    assert not [line for line in page.splitlines() if "drift" in line and "| any |" in line]
