"""The second paper (Yang et al. 2023, target ``spurious``): detection by accuracy discrepancy,
CLIP fine-tuned against the spurious attributes, and both papers compared on the same groups.

Per data set, under results/{dataset}/spurious/:
  {clip_model}/features.pt                  pre-projection features of every image and prompt
  detect/{source}.csv                       §4 per source: a CLIP model zero-shot or a first-paper model
  detect.csv, detect_precision.csv,         merged; precision@1 against each class's common attribute;
  delta_heatmap.png                         δ per class and attribute
  {clip_model}/methods/{method}.pt/.parquet  each method's projections or head, and its val/test predictions
  {clip_model}/methods/{method}_history.csv  fine-tuning history (loss terms, validation WGA per epoch)
  {clip_model}/aiou/{method}.csv            AIoU of GradCAM vs object masks (data sets with masks)
  group_metrics.csv                         long: accuracy of every (class, attribute) and coarse group
  comparison.csv/.md/.tex, wga.png,         both papers' methods: worst-group, average, adjusted
  group_accuracy.png                        accuracy and AIoU
Rules, by analysis, under workflow/rules/spurious/: finetune (features, methods, AIoU), detect,
compare, redetect (δ before and after the first paper's debugging,
results/{dataset}/paper/redetect.csv/.png). The library side is clipmend.spurious (steps.py names each step).
"""


include: "spurious/common.smk"


wildcard_constraints:
    clip_model="|".join(map(re.escape, SPURIOUS_CLIP_MODELS)),
    method="|".join(SPURIOUS_METHODS),


include: "spurious/finetune.smk"
include: "spurious/detect.smk"
include: "spurious/compare.smk"
include: "spurious/redetect.smk"
