"""Progress output: a line per long stage, a live bar on a terminal.

Progress is what a run prints while it works: the line naming a file being
prepared and its row counts, a line per stage (data, evaluation, baselines,
export) and per baseline model with its seconds, and the live bars. Errors,
the results table and the paths of what was written are not progress.
`xent train --quiet` (`xent.runner.run(verbose=0)`) silences all of it.

The runner opens `reporting(enabled, log)` for the duration of a run; the
library code that its tasks call (CTR file preparation, the baselines) takes
the setting from `current()`, because the task hooks that call it
(`build_inputs(config)`, `baselines(config, data)`) carry no output setting.
The setting lives in a `contextvars.ContextVar` that is reset when the run
ends; outside a run, progress is shown and goes to `print`.

Bars are `keras.utils.Progbar`s, drawn only on a terminal: on a pipe or in a
log file their carriage-return updates would each become a line. A bar is
erased when it closes; the caller logs a summary line instead, so captured
logs and terminals read the same.

>>> with reporting(enabled=False):
...     current().line("not shown")
>>> with reporting(enabled=True, log=print), current().stage("sleeping"):
...     pass  # doctest: +ELLIPSIS
sleeping ...
sleeping: ... s
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator

__all__ = ["Bar", "Progress", "current", "reporting"]

# ANSI "carriage return, erase the line": Progbar itself writes ANSI colours.
_ERASE_LINE = "\r\x1b[2K"


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where progress goes.

    Attributes:
        enabled: Whether progress is shown at all (False under `--quiet`).
        log: Where progress lines go (the run's `log`).
    """

    enabled: bool = True
    log: Callable[[str], None] = print

    def line(self, text: str) -> None:
        """Logs one progress line, unless progress is off."""
        if self.enabled:
            self.log(text)

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[None]:
        """Logs `<what> ...` before the block and `<what>: <seconds> s` after
        it (not when the block raises: the error says what happened)."""
        self.line(f"{what} ...")
        start = time.perf_counter()
        yield
        self.line(f"{what}: {time.perf_counter() - start:.1f} s")

    def bar(self, unit: str = "step", target: int | None = None) -> Bar:
        """A live bar counting `unit`s, drawn when progress is on and stdout
        is a terminal; otherwise a bar that draws nothing."""
        return Bar(unit, target, visible=self.enabled and _on_terminal())


class Bar:
    """A `keras.utils.Progbar` that draws only when visible and erases
    itself when closed (use it as a context manager).

    Args:
        unit: What is counted (`"row"`, `"batch"`).
        target: The total, or None when unknown.
        visible: Whether to draw at all.
    """

    def __init__(self, unit: str, target: int | None, visible: bool) -> None:
        self._progbar = None
        if visible:
            # Imported here: `xent.evaluation` imports this module and
            # otherwise loads without Keras and TensorFlow (~8 s on 2 cores).
            import keras

            self._progbar = keras.utils.Progbar(target, unit_name=unit, interval=0.5)
        self.count = 0

    def add(self, n: int) -> None:
        """Counts `n` more units."""
        self.count += n
        if self._progbar is not None:
            # Never finalized: its last line is erased by `close`.
            self._progbar.update(self.count, finalize=False)

    def close(self) -> None:
        """Erases the bar's line."""
        if self._progbar is not None:
            sys.stdout.write(_ERASE_LINE)
            sys.stdout.flush()
            self._progbar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "xent_progress", default=None
)
_OUTSIDE_A_RUN = Progress()


def current() -> Progress:
    """The progress setting of the run in progress (shown, to `print`,
    outside a run)."""
    return _CURRENT.get() or _OUTSIDE_A_RUN


@contextlib.contextmanager
def reporting(enabled: bool, log: Callable[[str], None] = print) -> Iterator[Progress]:
    """Sets the progress setting for the block (a run), and resets it after.

    Args:
        enabled: Whether progress is shown.
        log: Where progress lines go.

    Yields:
        The setting, also returned by `current()` in the block.
    """
    setting = Progress(enabled=enabled, log=log)
    token = _CURRENT.set(setting)
    try:
        yield setting
    finally:
        _CURRENT.reset(token)


def _on_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())
