"""Progress bars for the workflow's long steps (tqdm), and the fault point the kill tests use.

``ProgressBar`` is tqdm. With ``CLIPMEND_FAULT_STOP_AT_PROGRESS=SHARE`` in the environment (only
the fault tests set it) the process stops itself (SIGSTOP) once, in the first shown bar of more
than one step, when that bar has done ``SHARE`` of its total and not all of it; the bar is
printed at that count first, so the job's log shows where it stopped. The test then kills the
stopped job: the kill lands inside the work whatever the machine's load, where a kill timed
from outside can land before the work starts (in Python's imports) or after it ends.
"""

from __future__ import annotations

import os
import signal

from tqdm import tqdm

STOP_AT_PROGRESS = "CLIPMEND_FAULT_STOP_AT_PROGRESS"
_stopped = False  # the process stops once, whatever bars follow


def _stop_point(bar: tqdm) -> int | None:
    """The count at which ``bar`` stops this process, or None (no fault point, or not this bar)."""
    share = os.environ.get(STOP_AT_PROGRESS)
    if not share or _stopped or bar.disable or not bar.total or bar.total < 2:
        return None
    return min(bar.total - 1, max(1, int(float(share) * bar.total)))


def _stop(bar: tqdm, n: int) -> None:
    global _stopped
    _stopped = True
    bar.n = n
    bar.refresh()  # tqdm flushes its stream: the log shows "k/N" before the process stops
    os.kill(os.getpid(), signal.SIGSTOP)


class ProgressBar(tqdm):
    """tqdm, with the fault point of the module's docstring."""

    def __iter__(self):
        point = _stop_point(self)
        for done, item in enumerate(super().__iter__()):
            if done == point:
                _stop(self, done)
            yield item

    def update(self, n: float | None = 1):
        point = _stop_point(self)
        before = self.n
        shown = super().update(n)
        if point is not None and before < point <= self.n < self.total:
            _stop(self, self.n)
        return shown
