"""Truncated or corrupt files: readers name them and the fix; the image store remakes its own."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipmend.generation.registry import create_generator
from clipmend.generation.requests import debug_requests
from clipmend.generation.store import generate_set
from clipmend.io import CorruptFileError, read_parquet, read_torch, write_parquet, write_torch
from tests.unit.test_generate import CLASSES, WORLD, CountingGenerator


def test_truncated_parquet_is_named_with_the_forcerun_that_remakes_it(tmp_path):
    path = tmp_path / "failures.parquet"
    write_parquet(pd.DataFrame({"id": range(100)}), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match=rf"{path} is truncated or corrupt \(ArrowInvalid.*"
                                               rf"re-run snakemake with `--forcerun {path}`"):
        read_parquet(path)


@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[: len(data) // 2]],
                         ids=["empty", "cut in half"])
def test_empty_or_truncated_torch_file_is_named(tmp_path, damage):
    path = tmp_path / "own_head.pt"
    write_torch({"weight": np.ones(1000)}, path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptFileError, match=rf"{path} is truncated or corrupt"):
        read_torch(path)


def test_a_missing_file_is_not_called_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "absent.parquet")


def test_write_torch_gives_the_same_bytes_for_the_same_object(tmp_path):
    write_torch({"weight": np.arange(5)}, tmp_path / "a.pt")
    write_torch({"weight": np.arange(5)}, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_store_generates_junk_and_truncated_images_again_and_only_those(tmp_path):
    gen = CountingGenerator(create_generator("copypaste", world=WORLD))
    requests = debug_requests({1: ["in water"]}, CLASSES, "{class_name} {background}", 4, 0)
    first = generate_set(gen, requests, tmp_path, progress=False)
    images = [Path(p) for p in first["image"]]
    good = [p.read_bytes() for p in images]
    images[0].write_bytes(b"junk" * 100)
    images[1].write_bytes(good[1][: len(good[1]) // 2])

    again = generate_set(gen, requests, tmp_path, progress=False)

    assert gen.calls == 4 + 2
    assert [p.read_bytes() for p in images] == good
    assert again.equals(first)
