"""Ask the LLM backend, per class, for uncommon backgrounds; de-duplicate them."""

import json

from clipmend.backgrounds import propose_backgrounds
from clipmend.io import write_json
from clipmend.llm import create_backend
from clipmend.logs import to_file

to_file(snakemake.log[0])
llm = snakemake.params.llm
classes = json.loads(open(snakemake.input.classes).read())
backend = create_backend(llm["backend"], **llm.get("options", {}))
result = propose_backgrounds(backend, classes, llm["prompt"], fallback=llm.get("fallback"))
write_json(result, snakemake.output.backgrounds)
