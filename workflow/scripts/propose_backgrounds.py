"""Ask the LLM backend, per class, for uncommon backgrounds; de-duplicate them."""

import json

from clipmend.backgrounds import propose_backgrounds
from clipmend.clip import load_clip
from clipmend.io import write_json
from clipmend.llm import create_backend
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
llm = snakemake.params.llm
classes = json.loads(open(snakemake.input.classes).read())
backend = create_backend(llm["backend"], **llm.get("options", {}))
embed, threshold = None, llm.get("dedup_threshold")
if threshold is not None:  # near-synonyms by CLIP text-embedding similarity
    clip_cfg = snakemake.params.clip
    weights = snakemake.input.get("clip_weights") or clip_cfg["weights"]
    embed = load_clip(clip_cfg["arch"], weights, RunSettings.from_config(snakemake.config).device).encode_texts
result = propose_backgrounds(backend, classes, llm["prompt"], embed=embed,
                             threshold=threshold or 1.0, fallback=llm.get("fallback"))
write_json(result, snakemake.output.backgrounds)
