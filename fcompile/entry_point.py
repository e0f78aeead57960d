"""The `fcompile` script: `fcompile --version` answers before the command-line app (typer and every
command's options) is imported, so it costs little more than starting Python; everything else goes to
`fcompile.cli.main`.

When the command is done, every object still alive is moved out of the garbage collector's reach
(`gc.freeze`): the interpreter's shutdown otherwise walks them all in its final collections (the imported
modules, fcompile's graph, what the command left) to free memory the process is about to give back whole:
0.03 s of CPU of a materialization in a fresh process (docs/performance.md)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from fcompile.version import __version__

        print(f"fcompile {__version__}")
        return
    from fcompile.cli import main as cli_main

    try:
        cli_main(argv)
    finally:
        if argv is None:  # the script's own process, about to exit (not a caller's, such as a test's)
            import gc

            gc.freeze()
