"""The filter's thresholds chosen on some generation seeds, its precision and recall reported on others.

    .venv/bin/python benchmarks/filter_thresholds.py [RUN_DIR] [--config config/config.yaml]
        [--dataset demo] [--tune-seeds 1] [--report-seeds 0,2,3,4]

Reads a finished demo run (RUN_DIR, default: this checkout): its CLIP, ``backgrounds.json``,
``classes.json`` and every model's ``assignments.parquet``. For each generation seed it makes
every model's individual and random sets again with ``generator.seed`` set to that seed (the
copy-paste generator, milliseconds per image, into a temporary store; seed 0 is the run's own),
and scores each distinct image as ``score_generated_images`` does (``clipmend.generation.filter``).
Then:

- on the tune seeds, the thresholds (class, background) on a grid that maximise the smaller of
  precision and recall of dropping a defective image (the goal's form), over both sets of all
  models, each image once (as ``filter_quality.csv``'s ``all`` row);
- on each report seed, precision and recall at those thresholds and at the config's
  ``filter.thresholds``, and their mean over the report seeds with a 95% t interval (the seed is
  the unit: images of one seed share their prompts and backgrounds);
- why a score misses: per defect type, the AUC of each score for telling clean images from that
  defect (1: every clean image scores above every defective one; 0.5: chance), pooled over the
  report seeds.

Thresholds are never chosen on the images they are reported on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from clipmend.clip.assign import top_backgrounds  # noqa: E402
from clipmend.clip.loading import load_clip  # noqa: E402
from clipmend.generation import filter as image_filter  # noqa: E402
from clipmend.generation.registry import create_generator  # noqa: E402
from clipmend.generation.requests import debug_requests, random_requests  # noqa: E402
from clipmend.generation.store import generate_set  # noqa: E402
from clipmend.io import read_json, read_parquet  # noqa: E402
from clipmend.models.features import extract  # noqa: E402

CLASS_GRID = np.round(np.arange(0.0, 0.51, 0.01), 2)
BACKGROUND_GRID = np.round(np.arange(0.0, 0.61, 0.02), 2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", type=Path, default=REPO, help="the finished run's directory")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--tune-seeds", default="1", help="generation seeds the thresholds are chosen on")
    parser.add_argument("--report-seeds", default="0,2,3,4", help="generation seeds reported on")
    return parser.parse_args(argv)


def scored_seed(config: dict, results: Path, seed: int, store: Path, clip, options: list[str],
                classes: list[str]) -> pd.DataFrame:
    """Every model's individual and random sets of generation seed ``seed``, each image once, with scores."""
    gen = config["generator"]
    backend = create_generator(gen["backend"], **gen.get("options", {}))
    frames = []
    for model in config["models"]:
        chosen = top_backgrounds(read_parquet(results / model / "assignments.parquet"), gen["k"], part="debug_seed")
        individual = debug_requests(chosen, classes, gen["prompt"], gen["images_per_background"], seed)
        random = random_requests(individual, classes, gen["random_prompt"], seed)
        for name, requests in (("individual", individual), ("random", random)):
            frames.append(generate_set(backend, requests, store, progress=False).assign(set=name))
    pooled = pd.concat(frames, ignore_index=True).drop_duplicates("id", ignore_index=True)
    features = extract(clip.encode_images, clip.preprocess, pooled["image"].tolist(), 256, "cpu",
                       desc=f"seed {seed}", module=clip.model)
    scores = image_filter.score_images(pooled, features, classes, options, clip.encode_texts,
                                       config["clip"]["prompt"], float(clip.model.logit_scale.exp().item()))
    return pd.concat([pooled, scores], axis=1).assign(gen_seed=seed)


def quality(frame: pd.DataFrame, thresholds: dict[str, float]) -> dict:
    """filter_quality's row of ``frame`` at ``thresholds``."""
    return image_filter.filter_quality(frame.assign(kept=image_filter.decide(frame, thresholds)))


def tune(frame: pd.DataFrame) -> tuple[dict[str, float], float]:
    """The grid thresholds that maximise min(precision, recall) on ``frame``, and that minimum."""
    defective = frame["defect"].notna().to_numpy()
    cls = frame["score_class"].to_numpy(dtype=float)
    bg = frame["score_background"].to_numpy(dtype=float)
    best, best_value = None, -1.0
    for tc in CLASS_GRID:
        low_class = cls < tc
        for tb in BACKGROUND_GRID:
            dropped = low_class | (~np.isnan(bg) & (bg < tb))
            hits = (dropped & defective).sum()
            if not dropped.any():
                continue
            value = min(hits / dropped.sum(), hits / defective.sum())
            if value > best_value:
                best, best_value = {"class": float(tc), "background": float(tb)}, value
    return best, best_value


def interval(values: list[float]) -> str:
    """Mean [95% t interval] over seeds."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():.2f}"
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.2f} [{v.mean() - half:.2f}, {v.mean() + half:.2f}]"


def auc(clean: np.ndarray, score: np.ndarray) -> float:
    """P(a clean image scores above a defective one), ties half (Mann-Whitney)."""
    ranks = stats.rankdata(score)
    n1, n0 = clean.sum(), (~clean).sum()
    return float((ranks[clean].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main(argv: list[str] | None = None) -> None:
    """Tune on some seeds, report on the others."""
    args = parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    results = args.run / "results" / args.dataset
    classes = read_json(results / "data" / "classes.json")
    weights = str(config["clip"]["weights"])
    clip = load_clip(config["clip"]["arch"], str(results / "clip" / "clip.pt") if weights == "train" else weights,
                     "cpu")
    tune_seeds = [int(s) for s in args.tune_seeds.split(",")]
    report_seeds = [int(s) for s in args.report_seeds.split(",")]
    if set(tune_seeds) & set(report_seeds):
        raise SystemExit(f"tune seeds {tune_seeds} and report seeds {report_seeds} overlap")
    proposal = read_json(results / "backgrounds.json")
    with tempfile.TemporaryDirectory() as tmp:
        frames = {}
        for seed in tune_seeds + report_seeds:
            # the candidate backgrounds as score_generated_images has them: proposed plus prompted
            # (a copy-paste prompt's background is always a proposed one)
            options = image_filter.candidate_backgrounds(proposal, [])
            frames[seed] = scored_seed(config, results, seed, Path(tmp) / "store", clip, options, classes)
    tuned, value = tune(pd.concat([frames[s] for s in tune_seeds], ignore_index=True))
    configured = image_filter.check_thresholds(config["filter"]["thresholds"])
    print(f"tuned on generation seeds {tune_seeds}: thresholds {tuned} (min(precision, recall) there {value:.2f})")
    print(f"reported on generation seeds {report_seeds}, mean [95% t interval over seeds]:")
    print(f"{'thresholds':<40} {'set':<11} {'precision':>20} {'recall':>20}")
    for label, thresholds in ((f"tuned {tuned}", tuned), (f"config {configured}", configured)):
        for name in ("individual", "random", "all"):
            rows = [quality(f if name == "all" else f[f["set"] == name], thresholds)
                    for f in (frames[s] for s in report_seeds)]
            print(f"{label:<40} {name:<11} {interval([r['precision'] for r in rows]):>20} "
                  f"{interval([r['recall'] for r in rows]):>20}")
    pooled = pd.concat([frames[s] for s in report_seeds], ignore_index=True)
    print("\nAUC of each score, clean vs each defect (report seeds pooled):")
    print(f"{'set':<11} {'score':<17} " + " ".join(f"{d:>17}" for d in ("missing", "wrong_class", "wrong_background")))
    for name in ("individual", "random"):
        part = pooled[pooled["set"] == name]
        for score in ("score_class", "score_background"):
            if part[score].isna().all():
                continue
            cells = []
            for defect in ("missing", "wrong_class", "wrong_background"):
                rows = part[part["defect"].isna() | (part["defect"] == defect)]
                clean = rows["defect"].isna().to_numpy()
                cells.append(f"{auc(clean, rows[score].to_numpy(dtype=float)):>17.2f}" if (~clean).any()
                             else f"{'-':>17}")
            print(f"{name:<11} {score:<17} " + " ".join(cells))


if __name__ == "__main__":
    main()
