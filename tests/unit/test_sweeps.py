import numpy as np
import pandas as pd
import pytest

import clipmend.debugging.heads as heads_module
from clipmend.debugging.heads import HeadParams, train_heads
from clipmend.debugging.sweeps import SWEEP_COLUMNS, k_subsets, k_sweep, lambda_sweep, sweep_rows

PARAMS = HeadParams(epochs=60)
META = {"dataset": "demo", "model": "m", "family": "f"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny heads: one thread is fastest


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 3).astype(np.float32), y


def shifted(n, seed):
    """Class 0 drawn where class 1 lives: what the original data never shows."""
    rng = np.random.default_rng(seed)
    return (np.eye(3, 4)[1] * 3 + 0.3 * rng.normal(size=(n, 4))).astype(np.float32), np.zeros(
        n, dtype=int
    )


@pytest.fixture
def counted(monkeypatch):
    """Heads per trained chunk (one batched run per sweep: one entry)."""
    calls = []
    fit = heads_module._fit_chunk

    def wrapper(blocks, weight, *args, **kwargs):
        calls.append(len(weight))  # heads trained together
        return fit(blocks, weight, *args, **kwargs)

    monkeypatch.setattr(heads_module, "_fit_chunk", wrapper)
    return calls


def test_lambda_sweep_trains_all_values_in_one_call_and_lambda_helps_the_shifted_set(counted):
    x, y = blobs(300, 0)
    evals = {"test": blobs(200, 1), "debug_heldout": shifted(40, 2)}
    lambdas = [0.0, 0.5, 5.0]
    rows = lambda_sweep(x, y, shifted(60, 3), lambdas, evals, 3, PARAMS, **META)
    assert counted == [3]
    assert list(rows.columns) == SWEEP_COLUMNS
    assert len(rows) == len(lambdas) * len(evals)
    assert set(rows["param"]) == {"lambda"}
    heldout = rows[rows["split"] == "debug_heldout"].set_index("value")["accuracy"]
    assert heldout[0.0] < 0.1 < heldout[5.0]
    assert heldout[0.0] <= heldout[0.5] <= heldout[5.0]
    # a head's result does not depend on which other heads share its batch
    (alone,) = train_heads(x, y, [shifted(60, 3)], [0.0], 3, PARAMS, progress=False)
    test_x, test_y = evals["test"]
    row = rows[(rows["value"] == 0.0) & (rows["split"] == "test")].iloc[0]
    assert row["accuracy"] == np.mean(alone.predict(test_x) == test_y)
    assert row["n"] == 200


def gen_meta():
    """Generated rows: class 0 on sand, snow, lava; class 1 on grass (3 images each)."""
    pairs = [(0, "sand"), (0, "snow"), (0, "lava"), (1, "grass")]
    meta = pd.DataFrame(
        [(label, bg) for label, bg in pairs for _ in range(3)], columns=["label", "background"]
    )
    return np.arange(len(meta), dtype=np.float32)[:, None].repeat(4, axis=1), meta


def test_k_subsets_are_prefixes_of_each_class_s_background_order():
    x, meta = gen_meta()
    chosen = {0: ["snow", "sand", "lava"], 1: ["grass"]}
    subsets = k_subsets(x, meta, chosen, [1, 2, 3])
    assert sorted(subsets) == [1, 2, 3]
    backgrounds = lambda k: set(meta.loc[subsets[k][0][:, 0].astype(int), "background"])  # noqa: E731
    assert backgrounds(1) == {"snow", "grass"}
    assert backgrounds(2) == {"snow", "sand", "grass"}
    assert [len(subsets[k][1]) for k in (1, 2, 3)] == [6, 9, 12]
    np.testing.assert_array_equal(subsets[1][1], [0, 0, 0, 1, 1, 1])


def test_k_subsets_refuse_a_set_generated_with_too_small_k():
    x, meta = gen_meta()
    with pytest.raises(ValueError, match="'water'.*k >= 2"):
        k_subsets(x, meta, {0: ["snow", "water"]}, [1, 2])
    with pytest.raises(ValueError, match="integers >= 1"):
        k_subsets(x, meta, {0: ["snow"]}, [0, 1])
    with pytest.raises(ValueError, match="repeat"):
        k_subsets(x, meta, {0: ["snow"]}, [1, 1])


def test_k_subsets_of_a_filtered_set_take_a_pair_whose_every_image_was_dropped():
    """Broken change caught: the k sweep refusing a filtered set as if generated with too small k."""
    x, meta = gen_meta()
    generated = set(zip(meta["label"], meta["background"]))
    kept = (meta["background"] != "sand").to_numpy()  # the filter dropped every image on sand
    chosen = {0: ["snow", "sand", "lava"], 1: ["grass"]}
    subsets = k_subsets(x[kept], meta[kept].reset_index(drop=True), chosen, [1, 2, 3], generated=generated)
    assert [len(subsets[k][1]) for k in (1, 2, 3)] == [6, 6, 9]
    with pytest.raises(ValueError, match="'sand'"):  # without what was generated: refused
        k_subsets(x[kept], meta[kept].reset_index(drop=True), chosen, [1, 2, 3])
    with pytest.raises(ValueError, match="'water'.*k >= 2"):  # still refused beyond generator.k
        k_subsets(x, meta, {0: ["snow", "water"]}, [1, 2], generated=generated)


def test_k_sweep_trains_all_k_in_one_call(counted):
    x, y = blobs(200, 0)
    gens = {1: shifted(5, 1), 3: shifted(30, 2)}
    rows = k_sweep(x, y, gens, 1.0, {"debug_heldout": shifted(20, 3)}, 3, PARAMS, **META)
    assert counted == [2]
    assert rows["value"].tolist() == [1.0, 3.0]
    assert set(rows["param"]) == {"k"}


def test_known_heads_are_reused_and_only_the_others_trained(counted):
    x, y = blobs(200, 0)
    gen = shifted(60, 3)
    evals = {"debug_heldout": shifted(20, 4)}
    full = lambda_sweep(x, y, gen, [0.0, 0.5, 5.0], evals, 3, PARAMS, **META)
    (at_half,) = train_heads(x, y, [gen], [0.5], 3, PARAMS, progress=False)
    (baseline,) = train_heads(x, y, [gen], [0.0], 3, PARAMS, progress=False)
    counted.clear()
    reused = lambda_sweep(x, y, gen, [0.0, 0.5, 5.0], evals, 3, PARAMS, known={0.0: baseline, 0.5: at_half},
                          **META)
    assert counted == [1]
    pd.testing.assert_frame_equal(reused, full)
    counted.clear()
    rows = k_sweep(x, y, {1: shifted(5, 1), 2: gen}, 0.5, evals, 3, PARAMS, known={2: at_half}, **META)
    assert counted == [1]
    assert rows.set_index("value").loc[2.0, "accuracy"] == full.set_index("value").loc[0.5, "accuracy"]


def test_sweep_rows_need_one_head_per_value():
    with pytest.raises(ValueError, match="2 lambda values but 1 heads"):
        sweep_rows("lambda", [0.0, 1.0], [object()], {}, **META)
    with pytest.raises(ValueError, match="no lambda values"):
        lambda_sweep(*blobs(10, 0), blobs(5, 1), [], {}, 3, PARAMS, **META)
