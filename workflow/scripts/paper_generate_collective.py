"""Generate a family's collective_debug_train set from its pooled failures (as generate_images)."""

import json
import logging

import pandas as pd
import torch

from clipmend.assign import top_backgrounds
from clipmend.generate import create_generator, debug_requests, generate_set
from clipmend.io import write_parquet
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.generator
classes = json.loads(open(snakemake.input.classes).read())
pooled = pd.read_parquet(snakemake.input.assignments)
chosen = top_backgrounds(pooled, cfg["k"], part="debug_seed")
logging.info("family %s, top-%d backgrounds per class: %s", snakemake.wildcards.family, cfg["k"],
             {classes[c]: b for c, b in chosen.items()})
run = RunSettings.from_config(snakemake.config)
generator = create_generator(cfg["backend"], run.device, run.generation_batch_size,
                             **cfg.get("options", {}))
requests = debug_requests(chosen, classes, cfg["prompt"], cfg["images_per_background"], cfg["seed"])
manifest = generate_set(generator, requests, snakemake.params.store, run.generation_batch_size)
write_parquet(manifest, snakemake.output.collective)
