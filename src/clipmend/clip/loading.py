"""CLIP through open_clip: load a model (hub tag or local checkpoint), embed images and texts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.devices import to_numpy

CONFIG_DIR = Path(__file__).parent / "model_configs"


def register_local_configs() -> None:
    """Make clipmend's own open_clip architectures (e.g. ``clipmend-tiny``) known to open_clip."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)


def check_arch(arch: str) -> None:
    """Raise a clear error for an architecture open_clip does not know."""
    import open_clip

    register_local_configs()
    if arch not in open_clip.list_models():
        raise ValueError(f"clip.arch {arch!r} is not an open_clip model; valid: open_clip.list_models()")


@dataclass
class Clip:
    """A loaded CLIP with its preprocessing and tokenizer."""

    model: Any
    preprocess: Any
    tokenizer: Any
    device: torch.device

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """L2-normalised text embeddings."""
        tokens = self.tokenizer(texts).to(self.device)
        emb = self.model.encode_text(tokens).float()
        return to_numpy(torch.nn.functional.normalize(emb, dim=-1))

    @torch.no_grad()
    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings of a preprocessed batch."""
        return torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1)


def load_clip(arch: str, weights: str | None, device: str | torch.device = "cpu") -> Clip:
    """Load CLIP ``arch`` with ``weights`` (an open_clip pretrained tag or a checkpoint file) on ``device``."""
    import open_clip

    from clipmend.devices import resolve_device

    device = resolve_device(device)

    check_arch(arch)
    if weights and (weights.endswith((".pt", ".pth", ".bin", ".safetensors")) or "/" in weights):
        if not Path(weights).is_file():
            raise FileNotFoundError(
                f"CLIP checkpoint {weights!r} not found; set clip.weights to an existing file "
                "or an open_clip pretrained tag"
            )
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=weights or None, device=device)
    model.eval()
    return Clip(model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(arch), device=device)
