"""Preparing data sets from archives in the official formats (tests/archives.py builds them)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from clipmend.data.prepare import check_prepare_config
from clipmend.data.prepare.archives import ArchiveError
from clipmend.data.prepare.checksums import PUBLISHED, ChecksumError, verify_archive
from clipmend.data.prepare.imagenet import index_train, unpack_train, unpack_val, unpack_val_flat
from clipmend.data.prepare.manifest import MANIFEST, check_tree, write_entries
from clipmend.data.prepare.steps import finish, unpack
from tests import archives

WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361"]


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    """The three ImageNet archives (4 classes, 3 train and 2 val images each) and the mirror layout."""
    return archives.imagenet(tmp_path_factory.mktemp("imagenet"), WNIDS, train_per_class=3, val_per_class=2)


def prepare_imagenet(arch: dict, root: Path, flat: bool = False) -> list:
    """Index, unpack train and val, and write the manifest, as the workflow's jobs do."""
    train = unpack_train(arch["train"], index_train(arch["train"]), root)
    val = unpack_val_flat(arch["val_dir"], arch["val_solution"], root) if flat else \
        unpack_val(arch["val"], arch["devkit"], root)
    parts = [root.parent / "train.tsv", root.parent / "val.tsv"]
    write_entries(parts[0], train)
    write_entries(parts[1], val)
    return finish(parts, root, root.parent / "summary.json")


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under train/ and val/ of a tree, by path under the root."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for split in ("train", "val") for p in (root / split).rglob("*") if p.is_file()}


def expected_tree(arch: dict) -> dict[str, bytes]:
    """The layout the loaders read: train/<wnid>/<file>, val/<wnid of its label>/<file>."""
    tree = {f"train/{w}/{n}": d for w, files in arch["train_images"].items() for n, d in files.items()}
    tree |= {f"val/{arch['labels'][n]}/{n}": d for n, d in arch["val_images"].items()}
    return tree


@pytest.mark.parametrize("flat", [False, True], ids=["devkit", "flat_val"])
def test_imagenet_layout_labels_and_loader(imagenet, tmp_path, flat):
    root = tmp_path / "imagenet"
    entries = prepare_imagenet(imagenet, root, flat)
    assert tree_files(root) == expected_tree(imagenet)
    assert {e.file for e in entries} == set(expected_tree(imagenet))
    assert all(e.sha256 == hashlib.sha256((root / e.file).read_bytes()).hexdigest() for e in entries)
    assert check_tree(root, "full") == len(entries)
    assert not (root / ".partial").exists()

    from clipmend.data.imagefolder import build_imagenet

    mapping = tmp_path / "synsets.txt"
    mapping.write_text("".join(f"{w} class {w}\n" for w in WNIDS))
    index, classes = build_imagenet(tmp_path, str(root), train_per_class=None, debug_size=4, test_size=4,
                                    synset_mapping=str(mapping), on_bad_image="error")
    assert len(index) == len(entries)
    val = index[index["split"] != "train"]
    by_file = {Path(p).name: WNIDS[label] for p, label in zip(val["image"], val["label"])}
    assert by_file == imagenet["labels"]


def test_checksum_mismatch_names_file_and_both_values(imagenet, tmp_path):
    actual = hashlib.md5(imagenet["train"].read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as err:
        verify_archive(imagenet["train"], "imagenet", "train")
    message = str(err.value)
    assert "\n" not in message and str(imagenet["train"]) in message
    assert actual in message and PUBLISHED["imagenet", "train"].digest in message
    # a test archive passes with its own checksum pinned, or with verification off
    assert verify_archive(imagenet["train"], "imagenet", "train", pinned=actual)["md5"] == actual
    assert verify_archive(imagenet["train"], "imagenet", "train", verify=False)["verified"] is False
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"sha256 is .*, expected {wrong}"):
        verify_archive(imagenet["devkit"], "imagenet", "devkit", pinned=wrong)


def cut(path: Path, size: int, out: Path) -> Path:
    """A copy of ``path`` with only its first ``size`` bytes."""
    out.write_bytes(path.read_bytes()[:size])
    return out


def test_truncated_train_archive(imagenet, tmp_path):
    members = index_train(imagenet["train"])
    wnid, offset, size = members[2]
    root = tmp_path / "imagenet"
    # cut inside class 3's tar: the index sees it; unpacking classes 1-2 works, class 3 fails whole
    short = cut(imagenet["train"], offset + size // 2, tmp_path / "mid.tar")
    with pytest.raises(ArchiveError, match=r"mid.tar: .* truncated or corrupt"):
        index_train(short)
    with pytest.raises(ArchiveError, match=f"class {wnid}") as err:
        unpack_train(short, members, root)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in (root / "train").iterdir()) == WNIDS[:2]  # only whole classes
    # cut exactly between two members: tarfile alone would stop quietly with 2 classes
    with pytest.raises(ArchiveError, match="end-of-archive"):
        index_train(cut(imagenet["train"], offset - 512, tmp_path / "boundary.tar"))


def test_truncated_gzip_archive(tmp_path):
    tarball = archives.cifar(tmp_path / "cifar-10-python.tar.gz", "cifar10")
    short = cut(tarball, tarball.stat().st_size * 2 // 3, tmp_path / "short.tar.gz")
    with pytest.raises(ArchiveError, match="short.tar.gz: .* truncated or corrupt"):
        unpack("cifar10", str(short), str(tmp_path / "cifar"), tmp_path / "part.tsv")
    assert not (tmp_path / "cifar" / "cifar-10-batches-py").exists()


def test_manifest_finds_truncated_and_edited_images(imagenet, tmp_path):
    root = tmp_path / "imagenet"
    prepare_imagenet(imagenet, root)
    image = root / f"train/{WNIDS[1]}/{WNIDS[1]}_0.JPEG"
    data, stat = image.read_bytes(), image.stat()
    image.write_bytes(data[:100])
    with pytest.raises(ValueError, match=rf"1 of 20 files .* {image.relative_to(root)} \(size 100") as err:
        check_tree(root, "quick")
    assert "--forcerun" in str(err.value)
    # same size, mtime put back: only the full check sees the edit
    image.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert check_tree(root, "quick") == 20
    with pytest.raises(ValueError, match="sha256 differs"):
        check_tree(root, "full")


def test_rerun_keeps_whole_classes_and_redoes_damaged_ones(imagenet, tmp_path):
    root = tmp_path / "imagenet"
    members = index_train(imagenet["train"])
    unpack_train(imagenet["train"], members, root)
    kept = root / f"train/{WNIDS[0]}/{WNIDS[0]}_0.JPEG"
    inode = kept.stat().st_ino
    damaged = root / f"train/{WNIDS[2]}/{WNIDS[2]}_1.JPEG"
    damaged.unlink()
    (root / ".partial/train/n01491361").mkdir(parents=True)  # a killed run's staging folder
    (root / ".partial/train/n01491361/junk").write_bytes(b"x")
    unpack_train(imagenet["train"], members, root)
    assert kept.stat().st_ino == inode
    assert damaged.read_bytes() == imagenet["train_images"][WNIDS[2]][damaged.name]
    assert sorted(os.listdir(root / f"train/{WNIDS[3]}")) == sorted(imagenet["train_images"][WNIDS[3]])


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
def test_cifar_tarball_to_loader(tmp_path, kind):
    from clipmend.data.cifar import build_cifar

    tarball = archives.cifar(tmp_path / f"{kind}.tar.gz", kind)
    root = tmp_path / kind
    unpack(kind, str(tarball), str(root), tmp_path / "part.tsv")
    finish([tmp_path / "part.tsv"], root, tmp_path / "summary.json")
    index, names = build_cifar(kind, tmp_path, str(root), debug_size=10)
    assert len(names) == (10 if kind == "cifar10" else 100)
    assert index["split"].value_counts().to_dict()["train"] == (100 if kind == "cifar10" else 20)
    assert check_tree(root, "full") == (8 if kind == "cifar10" else 4)


def test_waterbirds_tarball_to_loader(tmp_path):
    from clipmend.data.waterbirds import build_waterbirds

    root = tmp_path / "waterbirds_v1.0"
    unpack("waterbirds", str(archives.waterbirds(tmp_path / "wb.tar.gz")), str(root), tmp_path / "part.tsv")
    finish([tmp_path / "part.tsv"], root, tmp_path / "summary.json")
    index, classes = build_waterbirds(tmp_path, str(root))
    assert len(index) == 16 and classes == ["landbird", "waterbird"]
    assert (root / MANIFEST).is_file() and check_tree(root, "full") == 17


@pytest.mark.parametrize("prepare, message", [
    ({"archives": {"train": "t.tar"}}, r"lacks \['val', 'devkit'\] \(or val_dir and val_solution\)"),
    ({"archives": {"val": "v.tar", "devkit": "d.tgz", "test": "x"}}, r"\['test'\] unknown"),
    ({"archives": {"val": "v.tar"}, "val_dir": "val"}, "either archives val and devkit"),
    ({"archives": {"val": "v.tar", "devkit": "d"}, "checksums": {"archive": "0" * 32}}, r"\['archive'\] are not"),
])
def test_prepare_config_errors_name_the_key(prepare, message):
    with pytest.raises(ValueError, match=message):
        check_prepare_config("imagenet", "imagenet", prepare)


def test_prepare_data_checks_the_manifest_before_indexing(imagenet, tmp_path):
    from clipmend.data.steps import prepare_data

    root = tmp_path / "imagenet"
    prepare_imagenet(imagenet, root)
    (root / f"val/{imagenet['labels'][archives.val_name(1)]}/{archives.val_name(1)}").write_bytes(b"\xff\xd8")
    index = tmp_path / "data" / "index.parquet"
    dataset = {"kind": "imagenet", "options": {"root": str(root)}, "manifest_check": "quick"}
    with pytest.raises(ValueError, match=r"val/n\d+/ILSVRC2012_val_00000001.JPEG \(size 2"):
        prepare_data(index, tmp_path / "data" / "classes.json", dataset)
    assert not index.exists()


def test_archive_is_fetched_only_from_a_given_url(tmp_path):
    import functools
    import http.server
    import json
    import threading

    from clipmend.data.prepare.steps import verify

    served = tmp_path / "served"
    served.mkdir()
    tarball = archives.cifar(served / "c.tar.gz", "cifar10")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    target = tmp_path / "archives" / "cifar-10-python.tar.gz"
    stamp = tmp_path / "stamp.json"
    try:
        with pytest.raises(FileNotFoundError, match="does not exist"):  # no URL: nothing is fetched
            verify(str(target), "cifar10", "archive", {}, stamp)
        pinned = hashlib.md5(tarball.read_bytes()).hexdigest()
        verify(str(target), "cifar10", "archive", {"urls": {"archive": f"{base}/c.tar.gz"},
                                                   "checksums": {"archive": pinned}}, stamp)
        assert target.read_bytes() == tarball.read_bytes()
        assert json.loads(stamp.read_text())["md5"] == pinned
        missing = tmp_path / "archives" / "other.tar.gz"
        with pytest.raises(OSError, match=r"download of .*/gone.tar.gz to .*other.tar.gz failed: HTTP Error 404"):
            verify(str(missing), "cifar10", "archive", {"urls": {"archive": f"{base}/gone.tar.gz"}}, stamp)
        assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no .part left
    finally:
        server.shutdown()
