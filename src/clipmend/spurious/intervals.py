"""95% intervals over seeds and test images: a two-level (seeds, then images) paired bootstrap.

Each replicate draws the test images again with replacement within each (class, attribute)
group, so every group keeps its size (the groups the metrics use are fixed by design), and
draws each method's seeds again with replacement; a method's value in a replicate is the mean
over its drawn seeds of the metric on the drawn images. Every method sees the same drawn
images and the same drawn seed positions in a replicate, so a difference of two methods is
paired on the test images and on the seed (seed k of one against seed k of the other). The
interval is the 2.5th and 97.5th percentile of the replicates (percentile bootstrap); the
point estimate is the mean over seeds on the observed images. A method with one seed (a
deterministic one: zero-shot, the first paper's original and baseline) varies with the images
only. With 5 seeds, the seed level is coarse; both sources of noise are in the interval.

Where several test images show one object (the demo's paired test split: every object on every
background), the images are not independent draws: an object hard on one background tends to
be hard on the others, and a coarse group (class × uncommon) pools one object's images on
several backgrounds. There the unit drawn is the object (``clusters``): each replicate draws
a class's objects with replacement and keeps all their images, so every group still keeps its
size and the interval carries the objects' correlation (a cluster bootstrap). Drawing the
images independently instead would narrow the coarse groups' intervals wrongly (on the demo,
test-only half-width 0.019 against 0.024 for the object draw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
REPLICATES = 2000


@dataclass
class Replicates:
    """Group correct counts of every (unit, seed) column: observed (G, K) and per replicate (B, G, K); sizes (G,)."""

    observed: np.ndarray
    replicates: np.ndarray
    sizes: np.ndarray


def resample_groups(correct: np.ndarray, groups: np.ndarray, replicates: int = REPLICATES,
                    rng: np.random.Generator | None = None, clusters: np.ndarray | None = None,
                    strata: np.ndarray | None = None) -> Replicates:
    """Correct counts per group for each column of ``correct`` (N images x K columns), observed and resampled.

    Images are drawn with replacement within each group (stratified), the same draw for every
    column. With ``clusters`` (N,: the object each image shows), objects are drawn instead, with
    replacement within each stratum (``strata`` (N,), constant over an object's images: its
    class), each drawn object bringing all its images; every object of a stratum must have the
    same number of images in each group (a paired layout), so every group keeps its size.
    """
    correct = np.asarray(correct, dtype=float)
    if correct.ndim != 2 or len(correct) != len(groups):
        raise ValueError(f"correct must be (images, columns) with one group per image; got {correct.shape} "
                         f"and {len(groups)} groups")
    rng = rng or np.random.default_rng(0)
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    if clusters is not None:
        return _resample_clusters(correct, inverse, sizes, np.asarray(clusters),
                                  np.zeros(len(correct), dtype=int) if strata is None else np.asarray(strata),
                                  replicates, rng)
    observed = np.zeros((len(names), correct.shape[1]))
    boot = np.zeros((replicates, len(names), correct.shape[1]))
    for g in range(len(names)):
        rows = correct[inverse == g]
        observed[g] = rows.sum(0)
        counts = rng.multinomial(len(rows), np.full(len(rows), 1.0 / len(rows)), size=replicates)
        boot[:, g] = counts @ rows
    return Replicates(observed, boot, sizes)


def _resample_clusters(correct: np.ndarray, group_of: np.ndarray, sizes: np.ndarray, clusters: np.ndarray,
                       strata: np.ndarray, replicates: int, rng: np.random.Generator) -> Replicates:
    """``resample_groups`` drawing whole clusters (objects) within strata."""
    if len(clusters) != len(correct) or len(strata) != len(correct):
        raise ValueError(f"clusters and strata need one entry per image ({len(correct)}); "
                         f"got {len(clusters)} and {len(strata)}")
    names, cluster_of = np.unique(clusters, return_inverse=True)
    n_groups, k = len(sizes), correct.shape[1]
    per_cluster = np.zeros((len(names), n_groups, k))  # correct count of each cluster in each group
    np.add.at(per_cluster, (cluster_of, group_of), correct)
    members = np.zeros((len(names), n_groups), dtype=int)
    np.add.at(members, (cluster_of, group_of), 1)
    stratum_of = np.zeros(len(names), dtype=object)
    stratum_of[cluster_of] = strata
    if (stratum_of[cluster_of] != strata).any():
        raise ValueError("an object's images lie in several strata (classes); each object needs one")
    boot = np.zeros((replicates, n_groups, k))
    for stratum in np.unique(strata):
        rows = np.flatnonzero(stratum_of == stratum)
        if (members[rows] != members[rows[0]]).any():
            raise ValueError(f"the objects of stratum {stratum!r} do not have the same images per group "
                             "(a paired layout); objects cannot be drawn so that every group keeps its size")
        counts = rng.multinomial(len(rows), np.full(len(rows), 1.0 / len(rows)), size=replicates)
        boot += (counts @ per_cluster[rows].reshape(len(rows), -1)).reshape(replicates, n_groups, k)
    return Replicates(per_cluster.sum(0), boot, sizes)


def worst_group(counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Lowest group accuracy over axis -2 (groups) of correct counts."""
    return (counts / sizes[:, None]).min(-2)


def average(counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Accuracy over all images from per-group correct counts."""
    return counts.sum(-2) / sizes.sum()


def merge_groups(counts: np.ndarray, sizes: np.ndarray, coarse_of: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sizes of coarser groups: fine group g belongs to coarse group ``coarse_of[g]``."""
    coarse_of = np.asarray(coarse_of)
    n = coarse_of.max() + 1
    onehot = np.eye(n)[coarse_of]  # (G_fine, G_coarse)
    return np.moveaxis(np.moveaxis(counts, -2, -1) @ onehot, -1, -2), sizes @ onehot


def seed_draws(replicates: int = REPLICATES, max_seeds: int = 1,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """(B, max_seeds) uniforms in [0, 1): a unit with S seeds draws positions floor(u·S), shared by all units."""
    return (rng or np.random.default_rng(1)).random((replicates, max_seeds))


def seed_mean(observed: np.ndarray, boot: np.ndarray, draws: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean over seeds on the observed images, per-replicate mean over drawn seeds).

    ``observed`` (S,), ``boot`` (B, S): a metric per seed; ``draws`` from ``seed_draws``.
    """
    n = len(observed)
    pick = np.floor(draws[:, :max(n, 1)] * n).astype(int) if n > 1 else np.zeros((len(boot), 1), dtype=int)
    return float(np.mean(observed)), np.take_along_axis(boot, pick, axis=1).mean(1)


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(np.asarray(values), [tail, 100 - tail])
    return float(low), float(high)


def summarize(estimates: Mapping[str, tuple[float, np.ndarray]], pairs: Sequence[tuple[str, str]],
              level: float = LEVEL) -> tuple[dict[str, tuple[float, float, float]], dict[tuple[str, str], tuple]]:
    """Mean and interval of each unit, and (mean_diff, low, high) of each pair a − b (paired replicates)."""
    single = {k: (mean, *interval(boot, level)) for k, (mean, boot) in estimates.items()}
    paired = {}
    for a, b in pairs:
        if a in estimates and b in estimates:
            diff = estimates[a][1] - estimates[b][1]
            paired[(a, b)] = (estimates[a][0] - estimates[b][0], *interval(diff, level))
    return single, paired


def object_clusters(objects: Sequence | np.ndarray | None, labels: Sequence | np.ndarray) -> dict[str, np.ndarray]:
    """``resample_groups``' ``clusters`` (the object each image shows) and ``strata`` (its class),
    where some object shows in several images (a paired test layout); none (``{}``: images drawn
    one by one) where each image shows its own object or an object is unknown."""
    if objects is None:
        return {}
    objects = np.asarray(objects, dtype=object)
    known = np.array([o is not None and o == o for o in objects], dtype=bool)  # o != o: NaN
    if not known.all() or len(set(objects.tolist())) == len(objects):
        return {}
    return {"clusters": objects.astype(str), "strata": np.asarray(labels)}
