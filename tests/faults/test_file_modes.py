"""Every file a run writes gets the mode the user's umask gives a normal file.

On a shared cluster project, group members read the metrics, figures and images, and a web
server serves the report's pictures: no result may keep the private mode of a temporary file
(``mkstemp``'s 0600) after its atomic rename. The reference run wrote under this process's
umask; tests/unit/test_atomic_writes.py writes under umask 022 and 002 explicitly.
"""

from __future__ import annotations

import stat

import pytest

from clipmend.io import file_mode

pytestmark = [pytest.mark.faults, pytest.mark.workflow]


def test_every_file_of_a_run_has_the_umasks_mode(reference):
    files = [p for folder in ("results", "logs") for p in (reference.workdir / folder).rglob("*")
             if p.is_file()]
    assert len(files) > 100  # results, store images, logs
    modes = {}
    for path in files:
        modes.setdefault(oct(stat.S_IMODE(path.stat().st_mode)), []).append(path)
    assert list(modes) == [oct(file_mode())], {m: [str(p) for p in ps[:3]] for m, ps in modes.items()}
