import numpy as np
import pandas as pd
import pytest

from clipmend.clip.assign import assign_backgrounds, top_backgrounds
from clipmend.evaluation.assignment import assignment_accuracy, background_resolver


def _embed(texts):
    """Toy text embedder: one axis per background word."""
    words = ["water", "grass", "snow"]
    out = np.array([[float(w in t) for w in words] for t in texts])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_assign_picks_the_most_similar_background():
    failures = pd.DataFrame({"id": ["a", "b", "c"], "label": [0, 0, 1],
                             "part": ["debug_seed"] * 3})
    images = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    bgs = {"cat": ["in water", "on grass"], "dog": ["on grass", "in snow"]}
    out = assign_backgrounds(failures, images, ["cat", "dog"], bgs, _embed, "a {class_name} {background}")
    assert out["background"].tolist() == ["on grass", "in water", "in snow"]
    assert (out["score"] > 0.5).all()


def test_assign_leaves_class_without_backgrounds_unassigned():
    failures = pd.DataFrame({"id": ["a"], "label": [1], "part": ["debug_seed"]})
    out = assign_backgrounds(failures, np.ones((1, 3)) / 3**0.5, ["cat", "dog"], {"cat": ["in water"]},
                             _embed, "{class_name} {background}")
    assert out["background"].isna().all()


def test_bad_prompt_template_names_it():
    failures = pd.DataFrame({"id": ["a"], "label": [0], "part": ["debug_seed"]})
    with pytest.raises(ValueError, match="bogus"):
        assign_backgrounds(failures, np.ones((1, 3)), ["cat"], {"cat": ["in water"]}, _embed, "{bogus}")


def test_top_backgrounds_counts_debug_seed_only():
    a = pd.DataFrame({
        "label": [0, 0, 0, 0, 0, 1],
        "background": ["snow", "snow", "grass", "water", "water", "sand"],
        "part": ["debug_seed"] * 3 + ["debug_heldout"] * 2 + ["debug_seed"],
    })
    assert top_backgrounds(a, 1) == {0: ["snow"], 1: ["sand"]}
    assert top_backgrounds(a, 5) == {0: ["snow", "grass"], 1: ["sand"]}
    assert top_backgrounds(a, 1, part=None) == {0: ["snow"], 1: ["sand"]}
    with pytest.raises(ValueError):
        top_backgrounds(a, 0)


def test_assignment_accuracy_resolves_phrases_to_true_backgrounds():
    index = pd.DataFrame({"id": ["a", "b", "c"], "background": ["water", "grass", "snow"]})
    table = pd.DataFrame({"id": ["a", "b", "c"], "background": ["in a lake", "in the snow", None],
                          "part": ["debug_seed", "debug_heldout", "debug_seed"]})
    acc = assignment_accuracy({"m": table}, index, background_resolver("demo")).set_index("part")
    assert acc.loc["all", "accuracy"] == 0.5 and acc.loc["all", "n"] == 2
    assert acc.loc["debug_seed", "accuracy"] == 1.0
    assert acc.loc["debug_heldout", "accuracy"] == 0.0


def test_without_a_resolver_a_phrase_must_name_the_true_background():
    index = pd.DataFrame({"id": ["a", "b"], "background": ["water", "grass"]})
    table = pd.DataFrame({"id": ["a", "b"], "background": ["Water.", "in the grass"],
                          "part": ["debug_seed", "debug_seed"]})
    acc = assignment_accuracy({"m": table}, index, background_resolver("imagefolder"))
    assert acc.set_index("part").loc["all", "accuracy"] == 0.5


def test_assignment_accuracy_without_true_backgrounds_is_an_empty_table(caplog):
    index = pd.DataFrame({"id": ["a", "b"]})  # an imagefolder index records no background
    table = pd.DataFrame({"id": ["a"], "background": ["in a lake"], "part": ["debug_seed"]})
    acc = assignment_accuracy({"m": table}, index)
    assert acc.empty and list(acc.columns) == ["model", "part", "accuracy", "n"]
    assert "no true backgrounds" in caplog.text
