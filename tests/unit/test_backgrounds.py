"""Normalising, de-duplicating and proposing backgrounds (pure, no server)."""

import json
import logging

import numpy as np
import pytest

from clipmend.llm.backgrounds import background_key, dedupe_backgrounds, propose_backgrounds
from clipmend.llm.parse import parse_backgrounds
from clipmend.llm.registry import Answer
from clipmend.llm.table import TableBackend
from clipmend.text import normalize_phrase

PROMPT = "What are the uncommon backgrounds that a {class_name} can appear in?"


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("  Rain   Forests. ", "rain forests"),
        ("“Beach”", "beach"),
        ("In the Desert!", "in the desert"),
        ("city street", "city street"),
    ],
)
def test_normalize_background(phrase, expected):
    assert normalize_phrase(phrase) == expected


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("beaches", "beach"),
        ("Forests", "forest"),
        ("leaves", "leaf"),
        ("grass", "grass"),
        ("glass", "glass"),
        ("bus", "bus"),
        ("On a bus", "bus"),
        ("in the desert", "desert"),
        ("Under the sea", "sea"),
        ("near a lake", "lake"),
        ("Rain-forests", "rain forest"),
        ("cities", "city"),
        ("caves", "cave"),
        ("volcanoes", "volcano"),
        ("glasses", "glass"),
        ("marshes", "marsh"),
        ("boxes", "box"),
        ("campus", "campus"),
        ("oasis", "oasis"),
        ("tennis courts", "tennis court"),
        ("Polar Ice Caps", "polar ice cap"),
        ("children's playgrounds", "children playground"),
        ("in", "in"),
    ],
)
def test_background_key(phrase, expected):
    assert background_key(phrase) == expected


def test_dedupe_keeps_the_first_of_each_key_group_normalised():
    items = ["Beach", "beaches", "on the beach", "Forest", "forests.", "In a Cave", "caves"]
    assert dedupe_backgrounds(items) == ["beach", "forest", "in a cave"]


def test_dedupe_drops_empty_items():
    assert dedupe_backgrounds(["", "  ", "...", "desert"]) == ["desert"]


def _table_embedder(vectors: dict[str, list[float]]):
    """A fake embedder from fixed vectors, recording its calls."""
    calls = []

    def embed(phrases):
        calls.append(list(phrases))
        rows = np.array([vectors[p] for p in phrases], dtype=float)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    embed.calls = calls
    return embed


def test_dedupe_drops_near_synonyms_above_the_threshold():
    embed = _table_embedder(
        {"beach": [1, 0, 0], "seaside": [0.95, 0.31, 0], "desert": [0, 0, 1], "shore": [1, 0.05, 0]}
    )
    items = ["beach", "desert", "seaside", "shore"]
    assert dedupe_backgrounds(items, embed, threshold=0.9) == ["beach", "desert"]
    assert dedupe_backgrounds(items, embed, threshold=0.99) == ["beach", "desert", "seaside"]
    assert embed.calls[0] == items


def test_dedupe_compares_with_kept_items_only():
    # b is close to a (dropped); c is close to b but not to a, so it stays.
    embed = _table_embedder({"a": [1, 0], "b": [0.94, 0.342], "c": [0.766, 0.643]})
    assert dedupe_backgrounds(["a", "b", "c"], embed, threshold=0.9) == ["a", "c"]


def test_dedupe_does_not_embed_a_single_item():
    embed = _table_embedder({})
    assert dedupe_backgrounds(["beach", "Beaches"], embed) == ["beach"]
    assert embed.calls == []


def test_dedupe_rejects_a_bad_threshold_and_a_bad_embedder():
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], got 1.5"):
        dedupe_backgrounds(["a"], threshold=1.5)
    with pytest.raises(ValueError, match=r"embedder returned shape \(1, 3\) for 2 phrases"):
        dedupe_backgrounds(["a", "b"], embed=lambda p: np.ones((1, 3)))


class ScriptedBackend:
    """A backend that parses fixed raw answers, like a real LLM backend."""

    name = "scripted"

    def __init__(self, raw: dict[str, str]):
        self.raw = raw

    def ask(self, class_names, prompt):
        return {
            c: Answer(raw=self.raw[c], items=parse_backgrounds(self.raw[c]), usage={"tokens": 5})
            for c in class_names
        }


def test_propose_backgrounds_returns_json_ready_raw_parsed_and_deduped():
    backend = ScriptedBackend({
        "sea lion": "1. **Desert**: dry\n2. Deserts\n3. Caves\n4. in the desert",
        "husky": '["Jungle canopies", "jungle canopy", "Underwater"]',
    })
    result = propose_backgrounds(backend, ["sea lion", "husky"], PROMPT)
    assert result["prompt"] == PROMPT
    assert result["backend"] == "scripted"
    assert result["classes"]["sea lion"] == {
        "backgrounds": ["desert", "caves"],
        "raw": "1. **Desert**: dry\n2. Deserts\n3. Caves\n4. in the desert",
        "parsed": ["Desert", "Deserts", "Caves", "in the desert"],
    }
    assert result["classes"]["husky"]["backgrounds"] == ["jungle canopies", "underwater"]
    assert result["usage"] == {"tokens": 10}
    assert json.loads(json.dumps(result)) == result


def test_propose_backgrounds_works_with_the_table_backend():
    backend = TableBackend({"cat": ["Desert", "deserts", "Ocean floor"]})
    result = propose_backgrounds(backend, ["cat"], PROMPT)
    assert result["classes"]["cat"]["backgrounds"] == ["desert", "ocean floor"]


def test_an_answer_with_nothing_usable_is_an_error_naming_the_class():
    backend = ScriptedBackend({"sea lion": "1. Beach", "croquet ball": "I'm sorry, I can't."})
    with pytest.raises(ValueError) as err:
        propose_backgrounds(backend, ["sea lion", "croquet ball"], PROMPT)
    message = str(err.value)
    assert "'croquet ball'" in message and "sea lion" not in message
    assert "I'm sorry" in message and "llm.fallback" in message


def test_the_fallback_is_used_and_logged_for_an_unusable_answer(caplog):
    backend = ScriptedBackend({"sea lion": "1. Beach", "croquet ball": ""})
    with caplog.at_level(logging.WARNING, logger="clipmend.llm.backgrounds"):
        result = propose_backgrounds(
            backend, ["sea lion", "croquet ball"], PROMPT, fallback=["Snow", "snow", "Mud"]
        )
    assert result["classes"]["croquet ball"]["backgrounds"] == ["snow", "mud"]
    assert result["classes"]["croquet ball"]["parsed"] == []
    assert result["classes"]["sea lion"]["backgrounds"] == ["beach"]
    assert "'croquet ball'" in caplog.text and "fallback" in caplog.text


def test_a_missing_answer_is_an_error_naming_the_class():
    class Forgetful(ScriptedBackend):
        def ask(self, class_names, prompt):
            return {}

    with pytest.raises(ValueError, match="no answer for 'cat'"):
        propose_backgrounds(Forgetful({}), ["cat"], PROMPT)


def test_clip_text_embeddings_are_normalised_rows_from_the_text_tower():
    import torch

    from clipmend.clip.loading import Clip

    open_clip = pytest.importorskip("open_clip")
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    model = CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(layers=1, width=32, patch_size=16, image_size=32, head_width=16),
        text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=1),
    ).eval()
    clip = Clip(model=model, preprocess=None, tokenizer=open_clip.get_tokenizer("ViT-B-32"),
                device=torch.device("cpu"))
    embed = clip.encode_texts
    rows = embed(["beach", "snowy field", "beach"])
    assert rows.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rows[0], rows[2], atol=1e-6)
    assert rows[0] @ rows[1] < 0.999
    assert dedupe_backgrounds(["beach", "snowy field"], embed, threshold=0.999) == [
        "beach", "snowy field"
    ]
