"""Background proposal for the 1000 ImageNet classes against a flaky OpenAI-compatible server.

    .venv/bin/python benchmarks/llm_load.py [--classes 1000] [--error-rate 0.10]
        [--rate-limit-rate 0.05] [--retry-after 1] [--latency 0.05 0.2] [--seed 0]

Runs the workflow's own step (``clipmend.llm.steps.propose_backgrounds``) with the
``openai`` backend and the ``llm.options`` of ``config/imagenet.yaml`` (its base URL
pointed at the local server of ``tests/llm_fault_server.py``, the cache in a temporary
folder) three times: against a server with latency only (the reference), against the
same server injecting HTTP 500 and HTTP 429 with ``Retry-After`` (on a fresh cache), and
a re-run on that cache. A step that fails for good after its retries is re-run, as a
user would: the cache keeps every answer already given. Prints requests, retries, wall
time and the most requests in flight; the last line is the faulty run's wall time
relative to the reference.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipmend.data.imagefolder import read_synset_mapping  # noqa: E402
from clipmend.io import write_json  # noqa: E402
from clipmend.llm.openai_backend import LLMRequestError  # noqa: E402
from clipmend.llm.steps import propose_backgrounds  # noqa: E402
from tests.llm_fault_server import Faults, FaultServer, free_port  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=1000, help="the first N ImageNet classes")
    parser.add_argument("--error-rate", type=float, default=0.10, help="share answered HTTP 500")
    parser.add_argument("--rate-limit-rate", type=float, default=0.05, help="share answered HTTP 429")
    parser.add_argument("--retry-after", type=float, default=1.0, help="the 429's Retry-After, s")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.05, 0.2), help="seconds")
    parser.add_argument("--seed", type=int, default=0, help="seeds the fault draws")
    parser.add_argument("--max-runs", type=int, default=5, help="re-runs allowed after a failure")
    return parser.parse_args(argv)


def run_step(classes: Path, llm: dict, out: Path, max_runs: int) -> tuple[dict, float, int]:
    """The step, re-run after a failure like a user would; its result, wall time and runs."""
    started = time.perf_counter()
    for run in range(1, max_runs + 1):
        try:
            result = propose_backgrounds(classes, out, llm)
            return result, time.perf_counter() - started, run
        except LLMRequestError as err:
            print(f"  run {run} failed ({str(err)[:120]}...); re-running on the cache", flush=True)
    raise SystemExit(f"not done after {max_runs} runs")


def report_progress(server: FaultServer, done: threading.Event, every: float = 10.0) -> None:
    """Print the server's answered requests every ``every`` seconds until ``done``."""
    while not done.wait(every):
        print(f"  ... {len(server.records)} requests answered", flush=True)


def measure(name: str, faults: Faults, port: int, classes: Path, llm: dict, cache: Path,
            workdir: Path, max_runs: int) -> dict:
    """One row of the table: the step against a server with ``faults`` on ``port``."""
    done = threading.Event()
    with FaultServer(faults, port=port) as server:
        threading.Thread(target=report_progress, args=(server, done), daemon=True).start()
        options = {**llm["options"], "base_url": server.base_url, "cache_dir": str(cache)}
        result, seconds, runs = run_step(classes, {**llm, "options": options},
                                         workdir / f"{name}.json", max_runs)
        statuses = server.statuses()
        row = {"name": name, "classes": len(result["classes"]), "runs": runs, "seconds": seconds,
               "requests": sum(statuses.values()), "ok": statuses[200], "http500": statuses[500],
               "http429": statuses[429], "max_in_flight": server.max_in_flight,
               "cache_hits": result["usage"]["cache_hits"]}
        done.set()
    print(f"  {name}: {row['seconds']:.1f} s, {row['requests']} requests", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("clipmend.llm").setLevel(logging.ERROR)  # not a warning per retry
    config = yaml.safe_load((ROOT / "config" / "imagenet.yaml").read_text())
    llm = {key: config["llm"][key] for key in ("backend", "prompt", "options")}
    _, names = read_synset_mapping(None)
    names = names[: args.classes]
    options = llm["options"]
    print(f"{len(names)} ImageNet classes; llm.options from config/imagenet.yaml: "
          f"concurrency {options['concurrency']}, max_retries {options['max_retries']}, "
          f"timeout {options['timeout']} s; server latency {args.latency[0]:g}-{args.latency[1]:g} s, "
          f"{args.error_rate:.0%} HTTP 500, {args.rate_limit_rate:.0%} HTTP 429 "
          f"(Retry-After {args.retry_after:g} s)", flush=True)
    faulty = Faults(latency=tuple(args.latency), error_rate=args.error_rate,
                    rate_limit_rate=args.rate_limit_rate, retry_after=args.retry_after, seed=args.seed)
    clean = Faults(latency=tuple(args.latency), seed=args.seed)
    port = free_port()  # one port for all runs: the base URL is part of the cache key
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_json(names, workdir / "classes.json")
        runs = [("no faults", clean, "cache0"), ("faults", faulty, "cache1"),
                ("re-run, cached", faulty, "cache1")]
        rows = [measure(name, faults, port, workdir / "classes.json", llm, workdir / cache, workdir,
                        args.max_runs) for name, faults, cache in runs]
    print(f"\n{'run':<16} {'classes':>7} {'runs':>4} {'seconds':>8} {'requests':>8} {'ok':>5} "
          f"{'500':>4} {'429':>4} {'cache hits':>10} {'max in flight':>13}")
    for r in rows:
        print(f"{r['name']:<16} {r['classes']:>7} {r['runs']:>4} {r['seconds']:>8.1f} "
              f"{r['requests']:>8} {r['ok']:>5} {r['http500']:>4} {r['http429']:>4} "
              f"{r['cache_hits']:>10} {r['max_in_flight']:>13}")
    n, faults = len(names), rows[1]
    retries = faults["requests"] - faults["ok"]
    bound = n * (1 + options["max_retries"]) * faults["runs"]
    expected = n / (1 - args.error_rate - args.rate_limit_rate)
    print(f"\nfaulty run: {faults['requests']} requests for {n} classes "
          f"({faults['requests'] / n:.3f} per class; expected {expected / n:.3f} = 1/(1-p)), "
          f"{retries} retries, every class answered once (ok == classes: {faults['ok'] == n}); "
          f"bounded by {bound} = classes x (1 + max_retries) x runs: {faults['requests'] <= bound}")
    print(f"max in flight {faults['max_in_flight']} <= concurrency {options['concurrency']}: "
          f"{faults['max_in_flight'] <= options['concurrency']}; cached re-run asked "
          f"{rows[2]['requests']} requests")
    print(f"faulty / no-fault wall time: {faults['seconds'] / rows[0]['seconds']:.2f}")


if __name__ == "__main__":
    main()
