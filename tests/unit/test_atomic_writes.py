"""Atomic writes: a dead writer's leftovers are swept, a live writer's kept, modes follow the umask."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd

from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import generate_set, image_key, store_path
from clipmend.io import STALE_AFTER_S, atomic_path, owner_tag, sweep_stale
from tests.workflow_utils import REPO, tiny_config


def dead_pid() -> int:
    """The pid of a process that has exited (as a killed job's)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def leftover(folder: Path, target: str, owner: str, age_s: float = 0.0) -> Path:
    """A temporary file of ``target`` as an atomic write by ``owner`` (PID@HOST) leaves it."""
    path = folder / f".{target}.{owner}.{uuid.uuid4().hex[:8]}.tmp"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"torn")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_a_dead_writers_leftovers_are_swept_and_live_ones_kept(tmp_path):
    host = socket.gethostname()
    dead = leftover(tmp_path, "metrics.csv", f"{dead_pid()}@{host}")
    live = leftover(tmp_path, "metrics.csv", owner_tag())  # this process: alive
    fresh_remote = leftover(tmp_path, "metrics.csv", "4242@another-node")
    old_remote = leftover(tmp_path, "metrics.csv", "4242@another-node", STALE_AFTER_S + 5)
    other_target = leftover(tmp_path, "metrics.csv.bak", f"{dead_pid()}@{host}")
    with atomic_path(tmp_path / "metrics.csv") as tmp:
        tmp.write_text("a,b\n")
    assert not dead.exists() and not old_remote.exists()
    assert live.exists() and fresh_remote.exists() and other_target.exists()
    assert (tmp_path / "metrics.csv").read_text() == "a,b\n"
    assert sweep_stale(tmp_path) == [other_target]  # a folder-wide sweep takes every target's


def test_generation_sweeps_what_a_cancelled_job_left_in_the_store(tmp_path):
    """The flaky scancel case: a job cancelled inside ``image.save`` leaves its temporary file
    and its claim; the retried job makes the image and leaves neither behind."""
    generator = create_generator("copypaste", world=tiny_config()["generator"]["options"]["world"])
    requests = [ImageRequest("bag", 8, "snow", "a photo of a bag in the snow", seed) for seed in (1, 2)]
    cancelled = store_path(tmp_path, image_key(generator.identity(), requests[0]))
    owner = dead_pid()
    torn = leftover(cancelled.parent, cancelled.name, f"{owner}@{socket.gethostname()}")
    cancelled.with_name(f"{cancelled.name}.claim").write_text(f"{socket.gethostname()} {owner}")
    manifest = generate_set(generator, requests, tmp_path, progress=False)
    assert len(manifest) == 2 and cancelled.exists()
    assert not torn.exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == \
        sorted(Path(p).name for p in manifest["image"])


def written_modes(tmp_path: Path, umask: int) -> dict[str, int]:
    """The modes of a table and a store image written by a fresh process under ``umask``."""
    script = f"""
import os, sys
os.umask({umask:#o})
import pandas as pd
from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import generate_set
from clipmend.io import write_csv
from tests.workflow_utils import tiny_config
write_csv(pd.DataFrame({{"a": [1]}}), sys.argv[1] + "/table.csv")
generator = create_generator("copypaste", world=tiny_config()["generator"]["options"]["world"])
generate_set(generator, [ImageRequest("bag", 8, "snow", "a photo of a bag in the snow", 1)],
             sys.argv[1] + "/store", progress=False)
"""
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=REPO)
    return {p.suffix: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*") if p.is_file()}


def test_written_files_get_the_mode_the_umask_gives(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o002, 0o664)):
        folder = tmp_path / f"{umask:o}"
        folder.mkdir()
        assert written_modes(folder, umask) == {".csv": mode, ".png": mode}
    assert pd.read_csv(tmp_path / "22" / "table.csv")["a"].tolist() == [1]
