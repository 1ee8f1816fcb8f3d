"""Figure 3 for one model: failures per class with true/predicted class and CLIP's background."""

import json

import pandas as pd

from clipmend.images import load_image
from clipmend.logs import to_file
from clipmend.plots import failure_titles, pick_gallery, plot_failure_gallery

to_file(snakemake.log[0])
classes = json.loads(open(snakemake.input.classes).read())
picked = pick_gallery(pd.read_parquet(snakemake.input.assignments), snakemake.params.n)
refs = pd.read_parquet(snakemake.input.index, columns=["id", "image"]).set_index("id")["image"]
images = [load_image(refs[i]) for i in picked["id"]]
plot_failure_gallery(images, failure_titles(picked, classes), snakemake.output.png,
                     title=f"{snakemake.wildcards.model}: failures and their CLIP backgrounds")
