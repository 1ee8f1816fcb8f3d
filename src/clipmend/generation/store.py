"""The shared on-disk image store: every image keyed by its content, generated once.

The store keys every image by (generator identity, prompt, seed, class, background), so
two models that ask for the same image share one file, and an interrupted run only
generates what is missing. An image lives at ``KEY[:2]/KEY.png`` (256 shard folders):
a lookup stats one path and never lists a folder, so its cost does not grow with the
store. Files appear by atomic rename, so two jobs sharing a store never see a torn
image. Before generating an image a job claims it (``KEY.png.claim``, created
exclusively): another job sharing the store skips it, makes its own images, then waits
for it. A claim whose job is gone (a dead process on this host, or older than
``CLAIM_TTL_S``) is taken over, so a killed job delays no one for long. Each job first
sweeps the folders it will write of what dead jobs left there (temporary files, claims).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from clipmend.generation.registry import Generator
from clipmend.generation.requests import ImageRequest, request_seed
from clipmend.io import STALE_AFTER_S, atomic_path, owner_gone, owner_tag, sweep_stale
from clipmend.progress import ProgressBar

log = logging.getLogger(__name__)


def image_key(identity: dict[str, Any], request: ImageRequest) -> str:
    """Content key of one generated image."""
    blob = json.dumps({"generator": identity, **vars(request)}, sort_keys=True)  # flat: vars == asdict
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


SAFETY_RETRIES = 2  # new seeds tried for an image a safety checker blanked, before dropping it


def store_path(store: Path, key: str, suffix: str = ".png") -> Path:
    """Where the image (or ``.blank`` marker) with content key ``key`` lives in ``store``."""
    return store / key[:2] / f"{key}{suffix}"


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk, with its CRC


def _whole(path: Path) -> bool:
    """True if ``path`` holds a whole PNG: its signature and end chunk (20 bytes read, not decoded)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(PNG_SIGNATURE))
            f.seek(-len(PNG_END), os.SEEK_END)
            return head == PNG_SIGNATURE and f.read() == PNG_END
    except OSError:  # missing, or shorter than the end chunk
        return False


CLAIM_TTL_S = STALE_AFTER_S  # a claim older than this is abandoned (its job died on another host)
CLAIM_POLL_S = 0.5  # how often a job looks again for images another job has claimed


def _claim(path: Path) -> bool:
    """Claim the right to generate the image at ``path``; False while another live job holds it."""
    claim = path.with_name(f"{path.name}.claim")
    staged = path.with_name(f".{path.name}.claim.{owner_tag()}.staged.tmp")
    claim.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            staged.write_text(f"{socket.gethostname()} {os.getpid()}")  # read by _abandoned
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(err.errno, f"No space left on device while writing {claim}: "
                              "free some space and re-run") from err
            raise
        for _ in range(2):
            try:
                os.link(staged, claim)  # atomic, whole, and refused while a claim exists (NFS too)
                return True
            except FileExistsError:
                if not _abandoned(claim):
                    return False
                # two jobs taking over one claim at once may both make the image: each writes it whole
                claim.unlink(missing_ok=True)
        return False
    finally:
        staged.unlink(missing_ok=True)


def _release(path: Path) -> None:
    """Give up the claim on the image at ``path``."""
    path.with_name(f"{path.name}.claim").unlink(missing_ok=True)


def _abandoned(claim: Path) -> bool:
    """Whether a claim's job is gone: a dead process on this host, or a claim over CLAIM_TTL_S old."""
    try:
        age = time.time() - claim.stat().st_mtime
        owner = claim.read_text().split()
    except OSError:  # released meanwhile
        return True
    if len(owner) == 2 and owner[1].isdigit():
        return owner_gone(int(owner[1]), owner[0], age)
    return age > CLAIM_TTL_S


def sweep(store: Path, keys: Sequence[str]) -> int:
    """Remove what dead jobs left in the store folders of ``keys``: temporary files and claims.

    Lists each folder once (a kill, a cancelled or timed-out SLURM job, a dead node leaves
    them); a live job's files, on any host, are kept. Returns how many were removed.
    """
    removed = 0
    for folder in sorted({store / key[:2] for key in keys}):
        removed += len(sweep_stale(folder))
        if not folder.is_dir():
            continue
        for claim in folder.glob("*.claim"):
            if _abandoned(claim):
                claim.unlink(missing_ok=True)
                removed += 1
    return removed


def _present(path: Path) -> bool:
    """Whether the image at ``path`` is made: a whole PNG, or a safety checker's ``.blank`` marker."""
    return _whole(path) or path.with_suffix(".blank").exists()


def _make_batch(generator: Generator, batch: list[tuple[int, ImageRequest, Path]],
                bar: ProgressBar) -> tuple[int, list[int]]:
    """Generate the (index, request, path) images not yet made; return how many, and the
    indices that another live job has claimed."""
    missing = [item for item in batch if not _present(item[2])]
    bar.update(len(batch) - len(missing))  # made meanwhile by another job sharing the store
    claimed: list[tuple[int, ImageRequest, Path]] = []
    try:
        claimed.extend(item for item in missing if _claim(item[2]))
        mine = [item for item in claimed if not _present(item[2])]  # its job may have just finished it
        images = list(generator.generate([request for _, request, _ in mine])) if mine else []
        if len(images) != len(mine):
            raise RuntimeError(
                f"generator {generator.name!r} returned {len(images)} images for {len(mine)} requests"
            )
        for (_, _, path), image in zip(mine, images):
            # a claim goes just before its image appears: a killed job leaves none on an image
            if image is None:
                _release(path)
                path.with_suffix(".blank").touch()
                continue
            with atomic_path(path, sweep=False) as tmp:  # generate_set swept the folder
                image.save(tmp, format="PNG")
                _release(path)
            bar.update(1)
    finally:
        for _, _, path in claimed:
            _release(path)
    taken = {i for i, _, _ in claimed}
    return len(mine), [i for i, _, _ in missing if i not in taken]


def generate_set(
    generator: Generator,
    requests: Sequence[ImageRequest],
    store: str | Path,
    batch_size: int = 8,
    progress: bool = True,
    safety_retries: int = SAFETY_RETRIES,
) -> pd.DataFrame:
    """Generate the requested images into ``store`` (reusing existing ones); return a manifest.

    A generator yields None for an image its safety checker blanked. Such a request is
    marked in the store (``KEY.blank``, so a resumed run does not ask again) and retried
    with a new seed up to ``safety_retries`` times, then dropped: no black image reaches
    a manifest. Each row's ``blanked`` counts the blanked tries before its image; the
    manifest's ``attrs["safety"]`` (kept in the parquet file) counts blanked, regenerated
    and dropped images.
    """
    store = Path(store)
    identity = generator.identity()
    current = list(requests)
    blanked = [0] * len(current)
    pending = list(range(len(current)))
    bar = ProgressBar(total=len(current), desc=f"generate ({generator.name})", disable=not progress)
    made = 0
    keys: dict[int, str] = {}  # request index -> key of its current request
    for attempt in range(safety_retries + 1):
        keys.update({i: image_key(identity, current[i]) for i in pending})
        todo = [i for i in pending if not _present(store_path(store, keys[i]))]
        if attempt == 0:
            swept = sweep(store, [keys[i] for i in todo])
            if swept:
                log.info("swept %d temporary files and claims that dead jobs left in the store", swept)
            log.info("%d images requested, %d in the store, %d to generate",
                     len(current), len(current) - len(todo), len(todo))
            broken = [str(store_path(store, keys[i])) for i in todo if store_path(store, keys[i]).exists()]
            if broken:
                log.warning("%d images in the store are truncated or corrupt (not whole PNGs), "
                            "generating them again: %s", len(broken), ", ".join(broken[:5]))
            bar.update(len(current) - len(todo))
        waiting = todo
        while waiting:  # images other live jobs claimed come round again until made or abandoned
            deferred = []
            for start in range(0, len(waiting), batch_size):
                batch = [(i, current[i], store_path(store, keys[i])) for i in waiting[start : start + batch_size]]
                done, claimed = _make_batch(generator, batch, bar)
                made, deferred = made + done, deferred + claimed
            if deferred and waiting is todo:
                log.info("waiting for %d images that another job sharing the store is generating",
                         len(deferred))
            if deferred:
                time.sleep(CLAIM_POLL_S)
            waiting = deferred
        pending = [i for i in pending if not store_path(store, keys[i]).exists()]
        for i in pending:
            blanked[i] += 1
            if attempt < safety_retries:
                request = requests[i]
                current[i] = replace(request, seed=request_seed(request.seed, "safety", attempt + 1))
        if not pending:
            break
    bar.close()
    log.info("%d images generated by this job", made)
    dropped = set(pending)
    if any(blanked):
        log.warning("safety checker: %d images blanked, %d regenerated with a new seed, %d dropped",
                    sum(blanked), sum(1 for i, n in enumerate(blanked) if n and i not in dropped),
                    len(dropped))
    rows = []
    flat_identity = {f"gen_{k}": _scalar(v) for k, v in identity.items()}
    truth = getattr(generator, "truth", None)  # what each image shows, where the generator knows it
    for i, r in enumerate(current):
        if i in dropped:
            continue
        rows.append({"id": f"gen-{keys[i]}", "image": str(store_path(store, keys[i])), **vars(r),
                     "blanked": blanked[i], **(truth(r) if truth else dict.fromkeys(TRUTH_COLUMNS)),
                     **flat_identity})
    extra = [f for f in vars(current[0]) if f not in MANIFEST_BASE] if current else []  # e.g. an edit's source
    manifest = pd.DataFrame(rows, columns=_manifest_columns(flat_identity, extra))
    manifest.attrs["safety"] = {
        "blanked": sum(blanked),
        "regenerated": sum(1 for i, n in enumerate(blanked) if n and i not in dropped),
        "dropped": len(dropped),
    }
    return manifest


#: what an image really shows (the demo generator knows; a diffusion model's are null): the class
#: of its object (None: no object), its background, and its defect (None: as prompted)
TRUTH_COLUMNS = ("true_class", "true_background", "defect")
MANIFEST_BASE = ("id", "image", "class_name", "label", "background", "prompt", "seed", "blanked")


def _manifest_columns(flat_identity: dict[str, Any], extra: Sequence[str] = ()) -> list[str]:
    return [*MANIFEST_BASE, *TRUTH_COLUMNS, *extra, *flat_identity]


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else json.dumps(value)
