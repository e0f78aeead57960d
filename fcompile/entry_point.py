"""The `fcompile` script: `fcompile --version` answers before the command-line app (typer and every
command's options) is imported, so it costs little more than starting Python; everything else goes to
`fcompile.cli.main`.

When the command is done, every object still alive is moved out of the garbage collector's reach
(`gc.freeze`), and the process ends without the interpreter's teardown (`_leave`: `atexit`'s functions run,
the standard streams are flushed, then `os._exit`). The teardown would free, one module and one object at a
time, memory the process is about to give back whole: 25-30 ms of a fresh materialization's wall time after
its last line was written (docs/performance.md). An exit that needs the interpreter (a thread still
running, an exit message, a stream that cannot be flushed) gets it.

Before the command, the collector's full collections are spaced ten times further apart (its third threshold,
the middle generation's collections between two full ones, goes from 10 to 100): the start-up (the imports,
the project's parse) makes some 60,000 objects that live as long as the process, and the one full collection
that came in its middle walked them all, 25-35 ms of a fresh materialization on CPython 3.11. Full collections
still come in a long run (a large materialization, `fcompile serve`), less often."""

from __future__ import annotations

import sys
from typing import NoReturn

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

    if argv is not None:  # a caller's process (a test's): its own exit
        cli_main(argv)
        return
    try:
        cli_main(None)
    except SystemExit as finished:
        _leave(finished.code)
    except BaseException:
        import gc

        gc.freeze()
        raise
    _leave(0)


def _leave(code: object) -> NoReturn:
    """End the script's process once the command is done: `atexit`'s functions run (logging's last
    flush, cleanups registered with it), the standard streams are flushed, and the process exits at once
    (`os._exit`). A process with another thread still running, or an exit message to print, or a stream that
    cannot be flushed (a closed pipe) ends as Python ends it, after `gc.freeze`."""
    import atexit
    import gc
    import os
    import threading

    gc.freeze()
    if not (code is None or type(code) is int) or threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()  # private, but as old as atexit: what the interpreter's own exit calls
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code or 0)
