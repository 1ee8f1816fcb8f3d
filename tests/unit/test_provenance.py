"""Provenance: every model-derived output says how it was made; combining steps refuse mixtures."""

import copy
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from clipmend import provenance
from clipmend.evaluation.metrics import COLUMNS
from clipmend.evaluation.steps import collect_metrics
from clipmend.io import write_parquet, write_torch
from clipmend.models.features import write_features
from clipmend.provenance import ProvenanceError, capture, check, read


def on_a_gpu(record, name="NVIDIA H100 80GB HBM3", batch=256):
    """``record`` as if its steps had run on a CUDA device (no GPU here)."""
    gpu = copy.deepcopy(record)
    for fields in gpu.values():
        fields.update(device="cuda", device_name=name, tf32=True, cudnn_tf32=True, autocast="float16",
                      cuda="12.8", batch_sizes={"features": batch})
    return gpu


def test_a_cpu_record_names_every_field_and_carries_its_inputs():
    features = capture("extract_features", torch.device("cpu"), batch_sizes={"features": 64})
    fields = features["extract_features"]
    assert fields["device"] == fields["device_name"] == "cpu"
    assert fields["tf32"] is False and fields["autocast"] is None and fields["deterministic"] is False
    assert fields["torch"] == torch.__version__ and fields["cuda"] == torch.version.cuda
    assert fields["batch_sizes"] == {"features": 64}
    heads = capture("debug_heads", "cpu", {"features.parquet": features})
    assert list(heads) == ["debug_heads", "extract_features"]
    assert heads["extract_features"] == fields


def test_mixed_devices_are_refused_in_one_line_naming_both_files_and_the_rule_to_rerun():
    cpu = capture("extract_features", "cpu")
    with pytest.raises(ProvenanceError) as err:
        check({"results/demo/a/features.parquet": cpu, "results/demo/b/features.parquet": on_a_gpu(cpu)})
    line = str(err.value)
    assert "\n" not in line
    assert "results/demo/a/features.parquet" in line and "results/demo/b/features.parquet" in line
    assert "'cpu' vs 'cuda'" in line and "--forcerun extract_features" in line
    # a job never mixes its inputs either: heads on the CPU from GPU features
    with pytest.raises(ProvenanceError, match="this debug_heads job"):
        capture("debug_heads", "cpu", {"features.parquet": on_a_gpu(cpu)})


def test_gpu_batch_sizes_and_models_must_agree_but_cpu_batch_sizes_need_not():
    cpu = capture("extract_features", "cpu", batch_sizes={"features": 256})
    check({"a": cpu, "b": capture("extract_features", "cpu", batch_sizes={"features": 32})})
    gpu = on_a_gpu(cpu)
    check({"a": gpu, "b": copy.deepcopy(gpu)})
    with pytest.raises(ProvenanceError, match=r"features batch sizes on cuda \(256 vs 32\)"):
        check({"a": gpu, "b": on_a_gpu(cpu, batch=32)})
    with pytest.raises(ProvenanceError, match="device_name"):
        check({"a": gpu, "b": on_a_gpu(cpu, name="NVIDIA A100-SXM4-40GB")})
    deterministic = copy.deepcopy(gpu)
    deterministic["extract_features"].update(deterministic=True, tf32=False, cudnn_tf32=False)
    with pytest.raises(ProvenanceError, match="deterministic: False vs True"):
        check({"a": gpu, "b": deterministic})
    # a step's own precision: heads use TF32 where extraction does not, but every head the same
    heads = on_a_gpu(capture("debug_heads", "cpu"))
    heads["debug_heads"].update(autocast=None)
    check({"features": gpu, "heads": heads})
    other = copy.deepcopy(heads)
    other["debug_heads"]["tf32"] = False
    with pytest.raises(ProvenanceError, match=r"heads \(debug_heads\) and other \(debug_heads\).*tf32"):
        check({"features": gpu, "heads": heads, "other": other})
    check({"a": gpu, "b": None})  # written before provenance was recorded: not checked


def test_records_are_stored_in_parquet_and_torch_outputs_and_cpu_bytes_repeat(tmp_path):
    record = capture("extract_features", "cpu", batch_sizes={"features": 8})
    meta = pd.DataFrame({"id": ["a", "b"], "label": [0, 1]})
    features = np.ones((2, 3), dtype=np.float32)
    paths = [tmp_path / "one.parquet", tmp_path / "two.parquet"]
    for path in paths:
        write_features(meta, features, path, capture("extract_features", "cpu", batch_sizes={"features": 8}))
    assert read(paths[0]) == record
    assert paths[0].read_bytes() == paths[1].read_bytes()  # no timestamp, no host: byte-identical
    table = pd.DataFrame({"id": ["a"]})
    table.attrs[provenance.KEY] = record
    write_parquet(table, tmp_path / "failures.parquet")
    write_torch({"weight": torch.zeros(1), provenance.KEY: record}, tmp_path / "heads.pt")
    assert read(tmp_path / "failures.parquet") == read(tmp_path / "heads.pt") == record
    assert torch.load(tmp_path / "heads.pt", weights_only=True)[provenance.KEY] == record  # as the heads are read
    write_features(meta, features, tmp_path / "old.parquet")
    assert read(tmp_path / "old.parquet") is None


def test_collect_metrics_refuses_heads_made_on_different_devices(tmp_path):
    cpu = capture("debug_heads", "cpu")
    heads, metrics = [], []
    for model, record in (("a", cpu), ("b", on_a_gpu(cpu))):
        write_torch({provenance.KEY: record}, tmp_path / f"{model}.pt")
        pd.DataFrame([("demo", model, "f", "individual", "test", 0.5, 10)],
                     columns=COLUMNS).to_csv(tmp_path / f"{model}.csv", index=False)
        heads.append(str(tmp_path / f"{model}.pt"))
        metrics.append(str(tmp_path / f"{model}.csv"))
    with pytest.raises(ProvenanceError, match=r"a\.pt \(debug_heads\) and .*b\.pt \(debug_heads\)"):
        collect_metrics(metrics, tmp_path / "metrics.csv", tmp_path / "summary.csv", made_by=heads)
    assert not (tmp_path / "metrics.csv").exists()
    collect_metrics(metrics, tmp_path / "metrics.csv", tmp_path / "summary.csv", made_by=heads[:1])


def test_the_deterministic_run_setting_sets_what_cuda_needs():
    code = (
        "import os, torch; from clipmend.run_settings import RunSettings, settled; "
        "from clipmend.devices import allow_tf32; "
        "settled(RunSettings(deterministic=True)); allow_tf32(torch.device('cuda')); "
        "from clipmend.provenance import step_fields; "
        "print(os.environ['CUBLAS_WORKSPACE_CONFIG'], torch.are_deterministic_algorithms_enabled(), "
        "torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, "
        "torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, "
        "step_fields('cpu')['deterministic'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [":4096:8", "True", "False", "True", "False", "False", "True"]
