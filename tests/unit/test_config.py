"""clipmend.config: the pure helpers common.smk and the library share."""

import pytest

from clipmend.config import parse_source, resolve_models
from clipmend.models.zoo import PAPER_MODELS


def test_a_zoo_name_becomes_its_entries_and_a_list_stays():
    config = resolve_models({"models": "paper"})
    assert config["models"] == PAPER_MODELS and config["models"] is not PAPER_MODELS
    listed = {"models": {"m": {"arch": "resnet18", "family": "resnet"}}}
    assert resolve_models(dict(listed)) == listed
    with pytest.raises(ValueError, match="'mine'.*paper"):
        resolve_models({"models": "mine"})


def test_sources_parse_into_kind_and_name():
    assert parse_source("model-vit_b") == ("model", "vit_b")
    assert parse_source("family-dino-v2") == ("family", "dino-v2")
    with pytest.raises(ValueError, match="'vit'"):
        parse_source("vit")
