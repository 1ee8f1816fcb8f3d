"""Generate a model's debug_train set and its matched random-debugging set."""

import json
import logging

import pandas as pd
import torch

from clipmend.assign import top_backgrounds
from clipmend.generate import create_generator, debug_requests, generate_set, random_requests
from clipmend.io import write_parquet
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.generator
classes = json.loads(open(snakemake.input.classes).read())
assignments = pd.read_parquet(snakemake.input.assignments)
chosen = top_backgrounds(assignments, cfg["k"], part="debug_seed")
logging.info("top-%d backgrounds per class: %s", cfg["k"], {classes[c]: b for c, b in chosen.items()})
run = RunSettings.from_config(snakemake.config)
generator = create_generator(cfg["backend"], run.device, run.generation_batch_size,
                             **cfg.get("options", {}))
individual = debug_requests(chosen, classes, cfg["prompt"], cfg["images_per_background"], cfg["seed"])
random = random_requests(individual, classes, cfg["random_prompt"], cfg["seed"])
for requests, path in [(individual, snakemake.output.individual), (random, snakemake.output.random)]:
    manifest = generate_set(generator, requests, snakemake.params.store, run.generation_batch_size)
    write_parquet(manifest, path)
