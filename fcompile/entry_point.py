"""The `fcompile` script: `fcompile --version` answers before the command-line app (typer and every
command's options) is imported, so it costs little more than starting Python; everything else goes to
`fcompile.cli.main`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from fcompile.version import __version__

        print(f"fcompile {__version__}")
        return
    from fcompile.cli import main as cli_main

    cli_main(argv)
