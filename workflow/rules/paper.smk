"""The paper's analyses (§5, Tables 1-3 and 6, Figures 2-6), on top of ``all_models``.

Per data set, under results/{dataset}/paper/:
  iou.csv, iou_summary.csv, iou.png      Figure 4: failure IoU of every model pair
  collective_matrix.csv/.png             every target's head trained with every generated set
  metrics_all.csv                        metrics.csv plus the strategies collective_family
                                         (type 1: the family's pooled set) and collective_single
                                         (type 2: the family representative's individual set)
  relative_accuracy.csv/.png             Figure 6: collective / individual heldout accuracy
  resolved_overlap.csv, _summary.csv     share of the heldout failures individual debugging
                                         resolves that collective debugging also resolves
  lambda_sweep.csv/.png, k_sweep.csv/.png  Figure 5 (panels per family)
  table{1,2,3}.*, experiments.*          Tables 1, 2 (= 6), 3 and one row per experiment
  gallery/{model}.png                    Figure 3: failures, true/predicted class, CLIP background
  generated/{model-X|family-F}.png       Figure 2: generated images per class and background

Rules, by analysis, under workflow/rules/paper/: iou, collective, sweeps, tables, figures.
Intermediate files: families/{family}/assignments.parquet and images/collective.parquet
(pooled sets; with filter.enabled also images/filtered/collective.parquet, from
filter/collective_scores.parquet), {model}/cross_features/ (other sets through the model's backbone; its own
set's features are reused), {model}/collective/*.csv, {model}/sweeps/{lambda,k}.csv.
"""


include: "paper/common.smk"


wildcard_constraints:
    family="|".join(map(re.escape, get_family_members())),
    source="|".join(map(re.escape, get_source_names())),
    sweep="lambda|k",


include: "paper/iou.smk"
include: "paper/collective.smk"
include: "paper/sweeps.smk"
include: "paper/tables.smk"
include: "paper/figures.smk"
