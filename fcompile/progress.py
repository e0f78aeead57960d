"""Progress of `fcompile materialize` and `fcompile seed` on stderr: a bar per view or seed on a terminal
(rows written, rows/s, time left), gone when the run ends (the command then prints a line per view or
seed); plain lines otherwise (CI logs, pipes): one as a view starts (not for a window with nothing to
read: the view's result line says so), then one every few seconds for a long one."""

from __future__ import annotations

import time
from typing import Any

PLAIN_EVERY_SECONDS = 10.0


class MaterializeProgressDisplay:
    """Implements `fcompile.tasks.materialize.MaterializeProgress` on a rich console."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.live = None
        self._task = None
        self._written = 0
        self._total: int | None = None
        self._about = ""  # "about " when the total is an estimate
        self._started = self._last_line = 0.0

    def __enter__(self) -> MaterializeProgressDisplay:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.live = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                 TaskProgressColumn(), _RowsPerSecondColumn(), TimeRemainingColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, view: str, window, total_keys: int | None, estimated: bool = False,
              rows: int | None = None) -> None:
        self._written, self._total = 0, total_keys
        self._about = "about " if estimated else ""
        self._started = self._last_line = time.monotonic()
        if self.live is not None:
            self._task = self.live.add_task(view, total=total_keys or None)  # the window is in the summary
        elif total_keys == 0 or rows == 0:
            pass  # nothing to read: the view's one line is its result, which says so
        else:
            if total_keys is None:
                keys = "keys not counted" if rows is None else f"{rows:,} source row{'s' * (rows != 1)} to read"
            else:
                keys = f"{self._about}{total_keys:,} keys to write"
            self.console.print(f"materializing feature view {view}: window {window.describe()} ({window.basis}), "
                               f"{keys}", markup=False)

    def advance(self, view: str, keys: int) -> None:
        self._written += keys
        if self.live is not None and self._task is not None:
            self.live.update(self._task, advance=keys)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_SECONDS:
            self._last_line = now
            rate = self._written / max(now - self._started, 1e-9)
            total = f" of {self._about}{self._total:,}" if self._total is not None else ""
            self.console.print(f"feature view {view}: {self._written:,}{total} keys written ({rate:,.0f} rows/s)",
                               markup=False)

    def done(self, result) -> None:
        """The view's bar completes; its result is the command's to print."""
        if self.live is not None and self._task is not None:
            self.live.update(self._task, total=max(self._written, 1), completed=max(self._written, 1))
        self._task = None


class SeedProgressDisplay:
    """Implements `fcompile.tasks.seeds.SeedProgress` on a rich console: a bar per seed on a terminal
    (its total from the Parquet footer; a CSV file's is unknown), else a line every few seconds. Each
    finished seed is passed to `report` (the CLI prints its summary line)."""

    def __init__(self, console: Any, report: Any = lambda result: None) -> None:
        self.console = console
        self.report = report
        self.live = None
        self._task = None
        self._loaded = 0
        self._total: int | None = None
        self._started = self._last_line = 0.0

    def __enter__(self) -> SeedProgressDisplay:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            self.live = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                 _RowsPerSecondColumn(), TimeRemainingColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, seed, total_rows: int | None) -> None:
        self._loaded, self._total = 0, total_rows
        self._started = self._last_line = time.monotonic()
        if self.live is not None:
            self._task = self.live.add_task(f"seed {seed.name}", total=total_rows)

    def advance(self, seed, rows: int) -> None:
        self._loaded += rows
        if self.live is not None and self._task is not None:
            self.live.update(self._task, advance=rows)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_SECONDS:
            self._last_line = now
            rate = self._loaded / max(now - self._started, 1e-9)
            total = f" of {self._total:,}" if self._total is not None else ""
            self.console.print(f"seed {seed.name}: {self._loaded:,}{total} rows read ({rate:,.0f} rows/s)",
                               markup=False)

    def done(self, result) -> None:
        if self.live is not None and self._task is not None:
            self.live.remove_task(self._task)
        self._task = None
        self.report(result)


def _RowsPerSecondColumn():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")

    return RowsPerSecond()
