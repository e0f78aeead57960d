"""Where fcompile looks for a path a user gives: one rule for every command.

- A path written in the project's files (fcompile_project.yml, spec files: a source's `path:`, a
  dataset's spine and output, a target's `path:`) is relative to the project folder, so the project
  works the same from any directory and on any machine.
- A path typed on the command line (`--project-dir`, `--spine`, `--output`, `push --file`,
  `build --target-path`, `schema --out`, `init DIR`) or passed as a string to the SDK is relative to the
  current directory, as in any shell command (and as the shell completes it).

`~` is expanded in paths on the command line and in a target's `path:`; a source's, spine's or output's
path in a spec file is taken as written (relative to the project folder). A path that is not found is reported with the path as given and the absolute
path where it was looked for.
"""

from __future__ import annotations

import os
from typing import Literal

from fcompile.diagnostics import Code, Diagnostic, Position

Origin = Literal["command line", "project"]


def resolve_path(given: str, base: str | None = None) -> str:
    """`given` as an absolute path: `~` expanded, relative to `base` (default: the current directory)."""
    return os.path.abspath(os.path.join(base or os.getcwd(), os.path.expanduser(given)))


def looked_for(given: str, absolute: str) -> str:
    """" (looked for /abs/path)" when the path as given is not already that absolute path."""
    return "" if os.path.normpath(os.path.expanduser(given)) == os.path.normpath(absolute) else \
        f" (looked for {absolute})"


def rule_hint(origin: Origin) -> str:
    if origin == "project":
        return "paths in the project's files are relative to the project folder"
    return f"paths on the command line (and given to the SDK) are relative to the current directory ({os.getcwd()})"


def path_not_found(what: str, given: str, absolute: str, origin: Origin, position: Position | None = None,
                   code: Code = Code.SOURCE_FILE_NOT_FOUND) -> Diagnostic:
    """`what` ("spine file") not found at `given`, looked for at `absolute`, with the rule as the hint."""
    return Diagnostic(code, f"{what} not found: {given}{looked_for(given, absolute)}", position, rule_hint(origin))
