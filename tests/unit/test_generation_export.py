"""Export of a generated set: ImageFolder tree, metadata.csv, SHA256SUMS; both loaders; corruption; kills."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.generation.export import CHECKSUMS, METADATA, class_folder, export_set, verify

NAMES = ["t-shirt", "ankle boot", "bag", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"]


def manifest(store: Path, classes: int = 3, per_class: int = 2) -> pd.DataFrame:
    """A generated set's manifest over real PNGs in ``store`` (with an extra filter-score column)."""
    rows = []
    rng = np.random.default_rng(0)
    for label in range(classes):
        for i in range(per_class):
            key = f"{label:02d}{i:030d}"
            path = store / key[:2] / f"{key}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
            rows.append({"id": f"gen-{key}", "image": str(path), "class_name": NAMES[label], "label": label,
                         "background": "on a lawn", "prompt": f"a photo of a {NAMES[label]} on a lawn",
                         "seed": 100 + i, "blanked": 0, "gen_backend": "copypaste", "gen_image_size": 8,
                         "clip_score": 0.5 + 0.01 * i})
    return pd.DataFrame(rows)


def sha256sum_ok(tree: Path) -> bool:
    return subprocess.run(["sha256sum", "-c", "--quiet", CHECKSUMS], cwd=tree, capture_output=True).returncode == 0


def test_tree_metadata_and_checksums(tmp_path):
    table = manifest(tmp_path / "store")
    out = tmp_path / "export/m/individual"
    metadata = export_set(table, out, classes=3)
    assert sorted(p.name for p in out.iterdir()) == ["0_t-shirt", "1_ankle_boot", "2_bag", CHECKSUMS, METADATA]
    written = pd.read_csv(out / METADATA)
    assert list(written.columns[:6]) == ["file_name", "class_name", "label", "prompt", "background", "seed"]
    assert {"clip_score", "gen_backend", "sha256", "id"} <= set(written.columns) and "image" not in written
    assert written["clip_score"].tolist() == table["clip_score"].tolist()  # extra manifest columns pass through
    assert len(metadata) == len(written) == 6
    assert sha256sum_ok(out) and verify(out) == []
    assert (out / CHECKSUMS).read_text().count("\n") == 7  # six images and metadata.csv


@pytest.mark.parametrize("target", ["image", "metadata"])
def test_a_corrupted_file_fails_the_check(tmp_path, target):
    out = tmp_path / "set"
    export_set(manifest(tmp_path / "store"), out, classes=3, link=False)
    victim = out / (pd.read_csv(out / METADATA)["file_name"][0] if target == "image" else METADATA)
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert not sha256sum_ok(out)
    assert verify(out) == [str(victim.relative_to(out))]


def test_linked_images_are_read_only_and_share_the_store(tmp_path):
    table = manifest(tmp_path / "store")
    out = tmp_path / "set"
    export_set(table, out, classes=3, link=True)
    first = out / pd.read_csv(out / METADATA)["file_name"][0]
    assert os.path.samefile(first, table["image"][0])
    assert not os.access(first, os.W_OK) or os.geteuid() == 0  # root may write anything
    assert first.stat().st_mode & 0o222 == 0
    copied = tmp_path / "copied"
    export_set(table, copied, classes=3, link=False)
    assert not os.path.samefile(copied / first.relative_to(out), table["image"][0])


def test_torchvision_and_datasets_load_it_with_clipmend_labels(tmp_path):
    import clipmend._torchvision_fix  # noqa: F401, I001  (before torchvision)
    from torchvision.datasets import ImageFolder
    from datasets import load_dataset

    classes = len(NAMES)  # 12 classes: folder 10 sorts after 09, not after 1
    out = tmp_path / "set"
    export_set(manifest(tmp_path / "store", classes=classes, per_class=1), out, classes=classes)
    metadata = pd.read_csv(out / METADATA).set_index("file_name")
    folder = ImageFolder(str(out))
    assert len(folder) == classes
    for path, target in folder.samples:
        assert metadata.loc[os.path.relpath(path, out), "label"] == target
    loaded = load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert len(loaded) == classes
    row = loaded[0]
    assert row["image"].size == (8, 8)
    assert {"label", "prompt", "background", "seed", "clip_score", "sha256"} <= set(loaded.column_names)
    assert sorted(loaded["label"]) == list(range(classes))


def test_class_folders_sort_in_label_order():
    names = [class_folder(label, f"class {label}/x", 12) for label in range(12)]
    assert names == sorted(names) and names[10] == "10_class_10_x"


def test_bad_input_names_itself(tmp_path):
    table = manifest(tmp_path / "store")
    Path(table["image"][3]).unlink()
    with pytest.raises(FileNotFoundError, match=Path(table["image"][3]).name):
        export_set(table, tmp_path / "set", classes=3)
    with pytest.raises(ValueError, match="label"):
        export_set(table.drop(columns="label"), tmp_path / "set", classes=3)
    assert not (tmp_path / "set").exists()


def test_a_failed_export_keeps_the_previous_tree(tmp_path, monkeypatch):
    table = manifest(tmp_path / "store")
    out = tmp_path / "set"
    export_set(table, out, classes=3)
    before = (out / CHECKSUMS).read_text()
    from clipmend.generation import export

    calls = []

    def failing(path, chunk=1 << 20):
        calls.append(path)
        if len(calls) > 3:
            raise OSError("disk gone")
        return export.hashlib.sha256(Path(path).read_bytes()).hexdigest()

    monkeypatch.setattr(export, "sha256", failing)
    with pytest.raises(OSError, match="disk gone"):
        export_set(table, out, classes=3)
    assert (out / CHECKSUMS).read_text() == before and sha256sum_ok(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


KILLED = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from pathlib import Path
    from clipmend.generation import export
    place = export._place
    def slow(source, target, link):
        place(source, target, link)
        Path(sys.argv[3]).touch()  # the parent kills us now
        time.sleep(60)
    export._place = slow
    export.export_set(pd.read_parquet(sys.argv[1]), sys.argv[2], classes=3)
""")


def test_a_killed_export_leaves_no_tree_and_its_leftovers_are_swept(tmp_path):
    table = manifest(tmp_path / "store")
    table.to_parquet(tmp_path / "manifest.parquet")
    out, started = tmp_path / "export/set", tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "manifest.parquet"), str(out), str(started)],
                            env=env)
    try:
        deadline = time.time() + 60
        while not started.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the export never started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(".set.")]
    assert len(leftovers) == 1 and leftovers[0].is_dir()
    export_set(table, out, classes=3)
    assert sha256sum_ok(out)
    assert [p.name for p in out.parent.iterdir()] == ["set"]
    shutil.rmtree(out.parent)
