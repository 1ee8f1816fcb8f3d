"""The second paper (Yang et al., ICML 2023): detection by accuracy discrepancy, spurious-aware
fine-tuning of CLIP's projections, group metrics and AIoU."""

#: the loss terms of each fine-tuning method (weights from ``spurious.finetune.loss_weights``);
#: here, torch-free, so the rules can read it
METHOD_LOSSES = {
    "finetune_clip": ("clip",),
    "ours_ls": ("clip", "vc", "lc", "ls"),
    "ours_vs": ("clip", "vc", "lc", "vs"),
}
