"""The demo's own step: train its tiny CLIP on captioned images of the ``clip`` split."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from clipmend.clip.loading import register_local_configs
from clipmend.demo.world import captions
from clipmend.io import write_torch
from clipmend.models.training import TrainParams
from clipmend.models.training import train_clip as fit_clip
from clipmend.run_settings import RunSettings, settled


def train_clip(index: str | Path, weights_out: str | Path, arch: str, train: Mapping[str, Any],
               run: RunSettings | None = None, threads: int | None = None) -> None:
    """Train open_clip architecture ``arch`` from scratch on the index's ``clip`` split and its captions."""
    import open_clip  # after clipmend.clip.loading's torchvision fix

    run = settled(run)
    if threads:
        torch.set_num_threads(threads)
    register_local_configs()
    params = TrainParams(**train)
    torch.manual_seed(params.seed)
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    images = pd.read_parquet(index)
    clip_split = images[images["split"] == "clip"]
    if "caption" in clip_split:
        texts = clip_split["caption"].tolist()
    else:  # an index written before the world recorded its captions
        texts = captions(clip_split["class_name"], clip_split["background"], seed=params.seed)
    state = fit_clip(model, preprocess, open_clip.get_tokenizer(arch), clip_split["image"].tolist(),
                     texts, params, run.device)
    write_torch({"state_dict": state}, weights_out)
