"""Speed settings of generation and feature extraction are run settings: the same images and
features up to float rounding, and the same predictions; the pixel-changing generator options
(scheduler, steps, dtype) are part of an image's key.

Tolerances: diffusers images with ``eager`` attention or channels-last differ from the SDPA
default by at most 2 of 255 per pixel (the bound batching already has); features with
channels-last by at most 1e-4 relative, with bfloat16 autocast by at most 5e-2 relative
(bfloat16 keeps 8 bits of mantissa); a linear head's predictions on them agree on every row
(channels-last) and on at least 95% of rows (bfloat16; a flip only where the top two logits
are within the rounding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import image_key
from clipmend.run_settings import RunSettings, strip_run_settings

REPO = Path(__file__).resolve().parents[2]
FAST = {"steps": 2, "height": 32, "width": 32}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from tests.tiny_diffusion import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


def _make(model: Path, run_options: dict | None = None, **options):
    return create_generator("diffusers", "cpu", 2, run_options, **{"model": str(model), **FAST, **options})


def _pixels(generator, requests) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.int16) for image in generator.generate(requests)])


def test_generator_run_settings_keep_the_images_and_their_keys(tiny_model, one_thread):
    requests = [ImageRequest("dog", 0, bg, f"a photo of a dog {bg}", seed) for seed, bg in
                enumerate(["on grass", "in water", "on snow"])]
    default = _make(tiny_model)
    reference = _pixels(default, requests)
    for run_options in ({"attention": "eager"}, {"channels_last": True}):
        other = _make(tiny_model, run_options)
        assert other.identity() == default.identity(), run_options
        keys = [(image_key(other.identity(), r), image_key(default.identity(), r)) for r in requests]
        assert all(mine == theirs for mine, theirs in keys)
        assert np.abs(_pixels(other, requests) - reference).max() <= 2, run_options
    eager = _make(tiny_model, {"attention": "eager"})
    for generator, kind in ((eager, "AttnProcessor"), (default, "AttnProcessor2_0")):
        assert {type(p).__name__ for p in generator.load().unet.attn_processors.values()} == {kind}


def test_the_fast_setting_is_a_new_image_key_and_a_multistep_solver(tiny_model):
    paper = _make(tiny_model)
    fast = _make(tiny_model, scheduler="DPMSolverMultistepScheduler", steps=25)
    request = ImageRequest("dog", 0, "on grass", "a photo of a dog on grass", 1)
    assert image_key(fast.identity(), request) != image_key(paper.identity(), request)
    assert type(fast.load().scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert _make(tiny_model, dtype="bfloat16").identity()["dtype"] == "bfloat16"  # dtype: a param


def test_bad_run_settings_are_named(tiny_model):
    with pytest.raises(ValueError, match="generator.attention is 'flash'; valid: \\['eager', 'sdpa'\\]"):
        _make(tiny_model, {"attention": "flash"})
    with pytest.raises(ValueError, match="generator.options.compile has moved: remove it and set `generator.compile`"):
        _make(tiny_model, compile=True)
    with pytest.raises(ValueError, match="unknown generator run setting 'turbo'"):
        _make(tiny_model, {"turbo": True})


def test_the_fast_config_departs_from_the_paper_config_in_the_sampler_only():
    paper, fast = (yaml.safe_load((REPO / "config" / name).read_text())
                   for name in ("imagenet.yaml", "imagenet_fast.yaml"))
    assert paper["generator"]["options"]["scheduler"] is None and paper["generator"]["options"]["steps"] == 50
    assert fast["generator"]["options"].pop("scheduler") == "DPMSolverMultistepScheduler"
    assert fast["generator"]["options"].pop("steps") == 25
    for key in ("scheduler", "steps"):
        paper["generator"]["options"].pop(key)
    assert fast == paper


def test_speed_settings_are_run_settings_never_params():
    config = {"features": {"batch_size": 8, "dtype": "bfloat16", "channels_last": True, "compile": True},
              "generator": {"k": 2, "batch_size": 4, "attention": "eager", "channels_last": True, "compile": True,
                            "options": {"steps": 25}}}
    # generator.batch_size stays: a param (diffusers pads short batches to it, so images depend on it)
    assert strip_run_settings("generator", config["generator"]) == {"k": 2, "batch_size": 4, "options": {"steps": 25}}
    assert strip_run_settings("features", config["features"]) == {}
    run = RunSettings.from_config(config)
    assert run.generator_options() == {"attention": "eager", "channels_last": True, "compile": True}
    assert run.feature_options() == {"dtype": "bfloat16", "channels_last": True, "compile": True}
    assert RunSettings().generator_options() == {"attention": "sdpa", "channels_last": False, "compile": False}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    """48 smooth random images on disk (what extraction reads)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(48):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        path = folder / f"{i}.png"
        Image.fromarray(small).resize((64, 64), Image.BILINEAR).save(path)
        paths.append(str(path))
    return paths


def test_feature_run_settings_give_the_same_features_and_predictions(images, one_thread):
    import timm
    import timm.data

    from clipmend.models.features import extract

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=0).eval()
    transform = timm.data.create_transform(input_size=(3, 64, 64))

    def run(**options):
        return extract(model, transform, images, batch_size=16, device="cpu", workers=0, module=model, **options)

    reference = run(dtype="float32")
    assert np.array_equal(run(), reference)  # auto on the CPU: no autocast
    head = np.random.default_rng(1).normal(size=(10, reference.shape[1])).astype(np.float32)
    predictions = (reference @ head.T).argmax(1)
    for options, tol, agree in (({"channels_last": True}, 1e-4, 1.0), ({"dtype": "bfloat16"}, 5e-2, 0.95)):
        features = run(**options)
        model.to(memory_format=torch.contiguous_format)
        error = np.linalg.norm(features - reference) / np.linalg.norm(reference)
        assert error <= tol, (options, error)
        assert np.mean((features @ head.T).argmax(1) == predictions) >= agree, options
    with pytest.raises(ValueError, match="features.dtype is 'int8'"):
        run(dtype="int8")
