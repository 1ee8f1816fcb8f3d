"""The diffusers backend, run for real on a tiny random Stable Diffusion pipeline saved locally."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from PIL import Image

from clipmend.generation.diffusion import DiffusersGenerator
from clipmend.generation.registry import Generator, create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import generate_set, image_key
from tests.tiny_diffusion import build_tiny_pipeline

FAST = {"steps": 2, "height": 32, "width": 32, "device": "cpu"}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Toy models run several times faster on one thread when the CPU cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SD pipeline saved with save_pretrained, shared by the whole session."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="module")
def generator(tiny_model: Path) -> DiffusersGenerator:
    """The tiny pipeline configured the way the workflow config would, loaded once."""
    return make(tiny_model, batch_size=4)


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HF_HUB_OFFLINE flag, but a hub endpoint that refuses connections; returns the cache."""
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def make(model: Path | str, **options) -> DiffusersGenerator:
    """A diffusers generator built from config options, as the workflow builds it."""
    return create_generator("diffusers", **{"model": str(model), **FAST, **options})


def requests(n: int, seed0: int = 0) -> list[ImageRequest]:
    """``n`` distinct requests with distinct prompts and seeds."""
    backgrounds = ["on grass", "in water", "on snow", "in a city", "in a forest", "on sand"]
    return [
        ImageRequest("dog", 0, bg, f"a photo of dog {bg}", seed0 + i)
        for i, bg in enumerate((backgrounds * n)[:n])
    ]


def pixels(image: Image.Image) -> np.ndarray:
    """An image as a signed integer array, so differences don't wrap around."""
    return np.asarray(image, dtype=np.int16)


@dataclass
class Recording:
    """Wraps a generator, records what it is asked for, optionally dies on the n-th call."""

    inner: Generator
    fail_on_call: int | None = None
    calls: int = 0
    asked: list[ImageRequest] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def identity(self) -> dict:
        return self.inner.identity()

    def generate(self, batch: Sequence[ImageRequest]) -> Iterator[Image.Image]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("interrupted")
        self.asked.extend(batch)
        yield from self.inner.generate(batch)


def test_loads_local_pipeline_from_config(generator: DiffusersGenerator) -> None:
    images = list(generator.generate(requests(2)))
    pipe = generator.load()
    assert type(pipe).__name__ == "StableDiffusionPipeline"  # resolved by pipeline="auto"
    assert pipe.safety_checker is None
    assert [(im.mode, im.size) for im in images] == [("RGB", (32, 32))] * 2
    assert pixels(images[0]).std() > 5  # not a blank image


def test_same_seed_same_pixels_different_seed_different(
    tiny_model: Path, generator: DiffusersGenerator
) -> None:
    request = requests(1)[0]
    other_seed = ImageRequest(**{**request.__dict__, "seed": request.seed + 1})
    first = next(generator.generate([request]))
    again = next(make(tiny_model).generate([request]))  # a fresh load of the pipeline
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(next(generator.generate([other_seed])))).mean() > 10


def test_image_does_not_depend_on_batch_mates(generator: DiffusersGenerator) -> None:
    batch = requests(3)
    batched = list(generator.generate(batch))
    alone = [next(generator.generate([r])) for r in batch]
    for a, b in zip(batched, alone):
        assert np.abs(pixels(a) - pixels(b)).max() <= 2  # float rounding of batched matmuls
    assert np.abs(pixels(batched[0]) - pixels(batched[1])).mean() > 10


def test_manifest_records_generation_settings(
    tiny_model: Path, generator: DiffusersGenerator, tmp_path: Path
) -> None:
    manifest = generate_set(generator, requests(2), tmp_path, progress=False)
    row = manifest.iloc[0]
    assert row["prompt"] == "a photo of dog on grass"
    assert row["seed"] == 0
    assert row["gen_model"] == str(tiny_model)
    assert (row["gen_scheduler"], row["gen_steps"], row["gen_guidance"]) == ("default", 2, 7.5)
    assert row["gen_negative_prompt"] == ""
    assert row["gen_dtype"] == "float32"
    assert all(Image.open(p).size == (32, 32) for p in manifest["image"])


def test_interrupted_run_generates_only_missing_images(
    generator: DiffusersGenerator, tmp_path: Path
) -> None:
    wanted = requests(4)
    with pytest.raises(RuntimeError, match="interrupted"):
        generate_set(Recording(generator, fail_on_call=2), wanted, tmp_path, 2, progress=False)
    assert len(list(tmp_path.rglob("*.png"))) == 2  # the first batch survived

    resumed = Recording(generator)
    manifest = generate_set(resumed, wanted, tmp_path, 2, progress=False)
    assert resumed.asked == wanted[2:]

    Path(manifest["image"][1]).unlink()
    repaired = Recording(generator)
    generate_set(repaired, wanted, tmp_path, 2, progress=False)
    assert repaired.asked == [wanted[1]]
    assert all(Path(p).is_file() for p in manifest["image"])


def test_two_models_share_generated_images(generator: DiffusersGenerator, tmp_path: Path) -> None:
    for_resnet = requests(2)
    for_vit = for_resnet + requests(1, seed0=99)  # the same two images plus one of its own
    first = generate_set(generator, for_resnet, tmp_path, progress=False)
    second = Recording(generator)
    shared = generate_set(second, for_vit, tmp_path, progress=False)
    assert second.asked == for_vit[2:]
    assert list(shared["image"][:2]) == list(first["image"])


@pytest.mark.parametrize(
    "option", [{"scheduler": "DDIMScheduler"}, {"negative_prompt": "blurry, low quality"}]
)
def test_pixel_options_change_identity_and_images(
    tiny_model: Path, generator: DiffusersGenerator, option: dict
) -> None:
    changed = make(tiny_model, batch_size=generator.batch_size, **option)  # the batch size is in the key too
    request = requests(1)[0]
    ((key, value),) = option.items()
    assert changed.identity() == {**generator.identity(), key: value}
    assert image_key(changed.identity(), request) != image_key(generator.identity(), request)
    new, old = next(changed.generate([request])), next(generator.generate([request]))
    assert np.abs(pixels(new) - pixels(old)).mean() > 1


def test_scheduler_option_swaps_the_scheduler(tiny_model: Path) -> None:
    pipe = make(tiny_model, scheduler="DPMSolverMultistepScheduler").load()
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"


def test_identity_holds_the_batch_size_and_ignores_the_device(tiny_model: Path) -> None:
    """Short batches are padded to the batch size, so an image depends on it: not one store key."""
    assert make(tiny_model, batch_size=1).identity() != make(tiny_model, batch_size=16).identity()
    assert (
        make(tiny_model, device="auto", dtype="float32").identity() == make(tiny_model).identity()
    )


@pytest.mark.parametrize(
    ("option", "valid"),
    [
        ({"scheduler": "FastScheduler"}, "DDIMScheduler"),
        ({"pipeline": "NoSuchPipeline"}, "StableDiffusionPipeline"),
    ],
)
def test_unknown_class_names_are_named(tiny_model: Path, option: dict, valid: str) -> None:
    with pytest.raises(ValueError, match=valid) as err:
        make(tiny_model, **option).load()
    assert next(iter(option.values())) in str(err.value)


@pytest.mark.parametrize(
    ("option", "valid"),
    [({"device": "tpu"}, "'cpu'"), ({"dtype": "float8"}, "float16"), ({"steps": 0}, ">= 1")],
)
def test_bad_settings_fail_at_construction(tiny_model: Path, option: dict, valid: str) -> None:
    with pytest.raises(ValueError, match=valid):
        make(tiny_model, **option)


def test_missing_local_directory_is_a_quick_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="generator.model") as err:
        make(missing).load()
    assert time.perf_counter() - start < 5
    assert str(missing) in str(err.value)


def test_unknown_hub_id_offline_is_a_quick_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="local directory") as err:
        make("nobody/no-such-diffusion-model").load()
    assert time.perf_counter() - start < 5
    assert "'nobody/no-such-diffusion-model'" in str(err.value)


def test_unreachable_hub_without_offline_flag_fails_quickly(unreachable_hub: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="unreachable"):
        make("stable-diffusion-v1-5/stable-diffusion-v1-5").load()
    assert time.perf_counter() - start < 5


def test_cached_hub_model_loads_without_network(
    tiny_model: Path, generator: DiffusersGenerator, unreachable_hub: Path
) -> None:
    repo = unreachable_hub / "models--clipmend--tiny-sd"
    commit = "0123abcd" * 5
    shutil.copytree(tiny_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    request = requests(1)[0]
    cached = make("clipmend/tiny-sd")
    start = time.perf_counter()
    cached.load()
    assert time.perf_counter() - start < 5  # no hub retries (they take ~25 s)
    from_cache = next(cached.generate([request]))
    assert np.array_equal(pixels(from_cache), pixels(next(generator.generate([request]))))
