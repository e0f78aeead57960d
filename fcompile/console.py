"""Where the commands print: a rich console on a terminal (colour, progress bars, tables), plain writes off one.

Off a terminal rich writes no colour, and with the commands' settings (no markup, emoji or highlighting; soft
wrap) a string prints as itself, but for the control codes BEL, BS, VT, FF and CR, which rich drops. A
`PlainConsole` writes such strings itself: importing rich.console costs 20-27 ms, a tenth of the fixed cost of
a fresh `fcompile materialize` whose output goes to a pipe, a file or CI's log. Everything else (rich renderables
such as Text and tables, a string with a tab, which rich expands by cell widths, options other than the
commands') goes to the rich console the command would have had, made when first needed; so does every
attribute but `is_terminal` and `print`.
"""

from __future__ import annotations

import builtins
import os
import sys
from typing import Any

# markup and emoji codes off: names, paths and messages hold user text (`[/]`, `:x:`) that prints as written
RICH_SETTINGS = {"highlight": False, "soft_wrap": True, "markup": False, "emoji": False}
PIPE_WIDTH = 200  # off a terminal: rich's 80 columns would fold every table row
_DROPPED = dict.fromkeys((7, 8, 11, 12, 13))  # what rich.control.strip_control_codes removes from text


def console_for(stderr: bool = False) -> Any:
    """The console a command prints through on stdout (or stderr)."""
    return PlainConsole(stderr) if _plain_stream(stderr) else rich_console(stderr)


def rich_console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, **RICH_SETTINGS)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=PIPE_WIDTH, **RICH_SETTINGS)
    return console


def _plain_stream(stderr: bool) -> bool:
    """Whether rich would write the stream plain: not a terminal, and nothing that makes rich take it for one
    (TTY_COMPATIBLE, FORCE_COLOR) or write elsewhere (a Jupyter kernel, which has `get_ipython`)."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ or hasattr(builtins, "get_ipython"):
        return False
    isatty = getattr(sys.stderr if stderr else sys.stdout, "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:  # a closed stream
        return False


class PlainConsole:
    """What `rich_console(stderr)` prints off a terminal, for plain strings, without importing rich."""

    is_terminal = False

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self._rich: Any = None

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", style: Any = None, markup: bool | None = None,
              highlight: bool | None = None, soft_wrap: bool | None = None, **options: Any) -> None:
        # off a terminal a style writes nothing, nor does highlighting (it only adds styles)
        plain = not options and not markup and soft_wrap is not False and \
            all(type(o) is str and "\t" not in o for o in (*objects, sep))
        if not plain:
            self.rich.print(*objects, sep=sep, end=end, style=style, markup=markup, highlight=highlight,
                            soft_wrap=soft_wrap, **options)
            return
        stream = sys.stderr if self.stderr else sys.stdout
        if stream is None:  # pythonw: rich writes nowhere too
            return
        try:
            stream.write(sep.join(objects).translate(_DROPPED) + end)
            stream.flush()
        except BrokenPipeError:  # as rich does: the rest of the output goes nowhere, and the command fails
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None

    @property
    def rich(self) -> Any:
        if self._rich is None:
            self._rich = rich_console(self.stderr)
        return self._rich

    def __getattr__(self, name: str) -> Any:  # width, measure, options...: the rich console's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.rich, name)
