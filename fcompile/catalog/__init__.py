"""The catalog site (`fcompile docs generate` / `fcompile docs serve`): a static website of the project.

It is a reader of the build's artifacts, like `fcompile plan`: the manifest of the project as it is now
(compiled in memory, `fcompile.artifacts`), the compiled SQL of each node, and the latest data-test results
in `target/run_results.json`. `model` turns them into pages, a search index and a lineage graph; `site`
renders the pages with Jinja and writes the folder; `serve` serves it.
"""
