"""The `fcompile` script: `fcompile --version` answers before the command-line app (typer and every
command's options) is imported, so it costs little more than starting Python; everything else goes to
`fcompile.cli.main`.

When the command is done, every object still alive is moved out of the garbage collector's reach
(`gc.freeze`): the interpreter's shutdown otherwise walks them all in its final collections (the imported
modules, fcompile's graph, what the command left) to free memory the process is about to give back whole:
0.03 s of CPU of a materialization in a fresh process (docs/performance.md).

Before the command, the collector's full collections are spaced ten times further apart (its third threshold,
the middle generation's collections between two full ones, goes from 10 to 100): the start-up (the imports,
the project's parse) makes some 60,000 objects that live as long as the process, and the one full collection
that came in its middle walked them all, 25-35 ms of a fresh materialization on CPython 3.11. Full collections
still come in a long run (a large materialization, `fcompile serve`), less often."""

from __future__ import annotations

import sys

FULL_COLLECTION_THRESHOLD = 100  # middle-generation collections between full ones (CPython's default: 10)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from fcompile.version import __version__

        print(f"fcompile {__version__}")
        return
    if argv is None:  # the script's own process (not a caller's, such as a test's)
        import gc

        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)
    from fcompile.cli import main as cli_main

    try:
        cli_main(argv)
    finally:
        if argv is None:  # the script's own process, about to exit (not a caller's, such as a test's)
            import gc

            gc.freeze()
