"""A tiny Stable Diffusion pipeline with random weights, built offline for tests and benchmarks.

Same architecture family as SD v1.5 (UNet2DConditionModel, AutoencoderKL, CLIP text
encoder, PNDM scheduler with SD v1.5's settings) at toy width, so it exercises the
real diffusers code paths in a second. Its tokenizer is the real CLIP BPE vocabulary
that ships inside open_clip, so prompts tokenize exactly as they would for SD v1.5.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import clipmend._torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)

# isort: split
import torch
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

CLIP_MERGES = 49152 - 256 - 2  # number of BPE merges CLIP uses from the bundled file


def build_tiny_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Build a tiny random StableDiffusionPipeline, save it to ``path`` and return ``path``."""
    path = Path(path)
    tokenizer = tiny_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe = StableDiffusionPipeline(
            vae=_vae(),
            text_encoder=_text_encoder(tokenizer),
            tokenizer=tokenizer,
            unet=_unet(),
            scheduler=_scheduler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.save_pretrained(path)
    return path


def tiny_tokenizer() -> CLIPTokenizer:
    """CLIP's tokenizer (vocabulary and merges as in SD v1.5), built from open_clip's BPE file."""
    with gzip.open(_bpe_file(), "rt", encoding="utf-8") as bpe:
        lines = bpe.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : CLIP_MERGES + 1]]
    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(
        vocab={token: i for i, token in enumerate(vocab)}, merges=merges, model_max_length=77
    )


def _bpe_file() -> Path:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("open_clip is needed for its bundled CLIP BPE vocabulary")
    return Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"


def _byte_chars() -> list[str]:
    # GPT-2/CLIP byte-to-unicode table, in CLIP's vocabulary order (printable bytes first)
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def _unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        sample_size=64,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
    )


def _text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        projection_dim=32,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def _scheduler() -> PNDMScheduler:
    # SD v1.5's scheduler config
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
