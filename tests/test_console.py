"""Off a terminal, the plain console (fcompile/console.py) writes what the rich console it stands for writes,
character for character; it hands rich what it does not print itself, and it is not used where rich would
take the stream for a terminal."""

from __future__ import annotations

import io

import pytest

from fcompile.console import PlainConsole, console_for, rich_console

CALLS = [
    (("materializing feature view v: window [2024-01-01T00:00:00Z, 2026-01-01T00:00:00Z]",), {}),
    (("a [bold]markup[/] :x: code, kept",), {"markup": False}),
    (("bell\x07 back\x08 vt\x0b ff\x0c cr\r\nnew line, \x1b escape kept",), {}),
    (("wide 漢字 and é, trailing spaces   ",), {"highlight": False}),
    (("error[FC116]: x", ), {"style": "red", "markup": False}),
    (("two", "parts\x07"), {"sep": " |\x07| "}),
    (("no newline",), {"end": ""}),
    (("an end kept as given",), {"end": "\r\n"}),
    (("",), {}),
    ((), {}),
    (("x" * 450 + "   ",), {"soft_wrap": True}),  # past the 200 columns: not folded, not trimmed
]


def written(console_of, stream, monkeypatch, args, kwargs) -> str:
    out = io.StringIO()
    monkeypatch.setattr("sys." + stream, out)
    console_of(stream == "stderr").print(*args, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_plain_strings_print_as_rich_prints_them(monkeypatch, stream, args, kwargs):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    plain = written(PlainConsole, stream, monkeypatch, args, kwargs)
    assert plain == written(rich_console, stream, monkeypatch, args, kwargs)


@pytest.mark.parametrize(("args", "kwargs"), [
    (("a\ttab",), {}),                          # rich expands tabs by cell width
    (("folded " * 60,), {"soft_wrap": False}),  # rich folds at 200 columns
    (("[bold]x[/]",), {"markup": True}),
    (("centred",), {"justify": "center"}),
])
def test_what_the_plain_console_does_not_print_itself_goes_to_rich(monkeypatch, args, kwargs):
    from rich.text import Text

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert written(PlainConsole, "stdout", monkeypatch, args, kwargs) == \
        written(rich_console, "stdout", monkeypatch, args, kwargs)
    text = (Text.assemble("view  ", ("failed: error[FC116] above", "red"), " (0.10 s)"),)
    assert written(PlainConsole, "stdout", monkeypatch, text, {}) == "view  failed: error[FC116] above (0.10 s)\n"
    assert PlainConsole().width == 200


def test_a_terminal_or_a_forced_one_gets_rich(monkeypatch):
    from rich.console import Console

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(console_for(), PlainConsole)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert isinstance(console_for(), Console) and console_for().is_terminal
    monkeypatch.delenv("FORCE_COLOR")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    assert isinstance(console_for(stderr=True), Console) and console_for(stderr=True).is_terminal
