"""``ProgressCallback``: fastai's epoch table and, from ``fastprogress``, its progress bars.

The table is printed as fastprogress' console master bar prints it (so it reads the same in a
terminal, a log file, Jupyter and the executed docs); while a phase runs, a fastprogress bar
shows its batches (an HTML bar in Jupyter, a ``\\r`` line in a terminal) and vanishes when the
phase ends. ``Learner.no_bar()`` (and ``--no-bar`` on the command line) turns the bars off and
keeps the table.
"""

from __future__ import annotations

import sys

import numpy as np

from .core import Callback

__all__ = ["ProgressCallback"]


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class ProgressCallback(Callback):
    """Prints the epoch table as fastai does, with a fastprogress bar per phase.

    Parameters
    ----------
    show_bar : bool, optional
        Draw a progress bar while each training and validation phase runs. Default: when
        ``file`` is a terminal or the code runs in a Jupyter kernel. Bars are drawn by
        ``fastprogress`` on standard output (or as HTML in Jupyter), whatever ``file`` is.
    show_table : bool, default True
        Print the header at ``before_fit`` and one row after each epoch.
    file : file-like, optional
        Where the table (and :meth:`write` lines) go; default ``sys.stdout`` at the time of
        writing.

    Notes
    -----
    The table follows fastprogress' console layout: titles padded to 8 characters and
    joined by two spaces; each value left-aligned in its title's width plus two; floats
    with 6 decimals, the time as ``mm:ss``.
    """

    order = 60

    def __init__(self, show_bar=None, show_table=True, file=None):
        self.show_bar = show_bar
        self.show_table = bool(show_table)
        self.file = file
        self._titles = None
        self._bar = None

    @property
    def _out(self):
        return sys.stdout if self.file is None else self.file

    def _bar_enabled(self) -> bool:
        if not self.learn.logging or not getattr(self.learn, "show_bars", True):
            return False
        if self.show_bar is not None:
            return bool(self.show_bar)
        isatty = getattr(self._out, "isatty", None)
        return bool(isatty and isatty()) or _in_notebook()

    def write(self, line: str) -> None:
        """Print ``line`` where the table goes (below it), when the Learner is logging."""
        if self.learn is None or self.learn.logging:
            self._end_bar()
            print(line, file=self._out, flush=True)

    def _write_row(self, items) -> None:
        if self._titles is None:
            self._titles = [t + " " * (8 - len(t)) if len(t) < 8 else t for t in items]
            text = "  ".join(self._titles)
        else:
            text = "".join(
                t + " " * (2 + len(title) - len(t)) for t, title in zip(items, self._titles)
            )
        self.write(text)

    @staticmethod
    def format_value(value) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.6f}"
        return str(value)

    def before_fit(self):
        self._titles = None
        recorder = getattr(self.learn, "recorder", None)
        if self.show_table and recorder is not None and self.learn.logging:
            self._write_row(recorder.metric_names)

    def _launch_bar(self, phase):
        self._end_bar()
        if not self._bar_enabled():
            return
        from fastprogress.fastprogress import ConsoleProgressBar, NBProgressBar

        bar_class = NBProgressBar if _in_notebook() else ConsoleProgressBar
        total = len(self.learn.dl)
        self._bar = bar_class(range(total), total=total, leave=False)
        if hasattr(self._bar, "prefix"):
            self._bar.prefix = f"epoch {self.learn.epoch + 1}/{self.learn.n_epoch} {phase}"
        self._bar.update(0)

    def before_train(self):
        self._launch_bar("train")

    def before_validate(self):
        self._launch_bar("valid")

    def after_batch(self):
        if self._bar is None:
            return
        smooth = getattr(self.learn, "smooth_loss", None)
        if self.learn.training and smooth is not None:
            self._bar.comment = f"{smooth:.4f}"
        self._bar.update(self.learn.iter + 1)

    def _end_bar(self):
        bar, self._bar = self._bar, None
        if bar is not None and bar.last_v is not None:  # not finished: close it by hand
            bar.on_iter_end()

    def after_train(self):
        self._end_bar()

    def after_validate(self):
        self._end_bar()

    def after_epoch(self):
        recorder = getattr(self.learn, "recorder", None)
        if self.show_table and recorder is not None and self.learn.logging:
            self._write_row([self.format_value(v) for v in recorder.log])

    def teardown(self):
        self._end_bar()
