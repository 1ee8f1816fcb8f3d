"""Fault case 5: the LLM endpoint dies, hangs or garbles, through the workflow's own step.

Each test runs ``clipmend.llm.steps.propose_backgrounds`` with the ``openai`` backend
against the fault-injecting server of ``tests/llm_fault_server.py`` (a real HTTP server),
and counts the requests the server saw.
"""

from __future__ import annotations

import time

import pytest

from clipmend.io import write_json
from clipmend.llm.openai_backend import LLMRequestError
from clipmend.llm.steps import propose_backgrounds
from tests.llm_fault_server import Faults, FaultServer, free_port, read_log, start_process

pytestmark = pytest.mark.faults

PROMPT = "What are the uncommon backgrounds that a {class_name} can appear in?"


def classes(n: int) -> list[str]:
    """n class names, none a substring of another."""
    return [f"object-{i:03d}" for i in range(n)]


def class_of(user_message: str) -> str:
    """The class a recorded request asked about."""
    return user_message.split(" that a ")[1].split(" can appear")[0]


def llm_config(base_url: str, cache_dir, **options) -> dict:
    """The config ``llm`` section of a run against base_url, with fast retries."""
    return {
        "backend": "openai",
        "prompt": PROMPT,
        "options": {"model": "fault-test", "base_url": base_url, "cache_dir": str(cache_dir),
                    "max_retries": 1, "backoff_base": 0.01, "timeout": 5, "concurrency": 4,
                    **options},
    }


def run(tmp_path, names: list[str], llm: dict, out: str = "backgrounds.json") -> dict:
    """The workflow's background-proposal step on names; its output."""
    write_json(names, tmp_path / "classes.json")
    return propose_backgrounds(tmp_path / "classes.json", tmp_path / out, llm)


def test_server_killed_halfway_then_restarted_asks_only_the_missing_classes(tmp_path):
    names = classes(100)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    llm = llm_config(base_url, tmp_path / "cache")
    server = start_process(port, tmp_path / "first.log", kill_after=50, latency=(0.005, 0.02))
    try:
        with pytest.raises(LLMRequestError, match=r"class 'object-\d{3}'.*connection error"):
            run(tmp_path, names, llm)
    finally:
        server.kill()
    assert server.wait() == -9  # it died by the injected kill -9, not by our clean-up
    assert not (tmp_path / "backgrounds.json").exists()
    answered = {class_of(r["user"]) for r in read_log(tmp_path / "first.log")}
    assert 50 <= len(answered) < 100
    assert len(list((tmp_path / "cache").glob("*.json"))) == len(answered)

    server = start_process(port, tmp_path / "second.log", latency=(0.005, 0.02))
    try:
        resumed = run(tmp_path, names, llm)
        asked = [class_of(r["user"]) for r in read_log(tmp_path / "second.log")]
        assert sorted(asked) == sorted(set(names) - answered)  # each missing class once, no other
        assert resumed["usage"]["cache_hits"] == len(answered)

        undisturbed = run(tmp_path, names, llm_config(base_url, tmp_path / "fresh"), "clean.json")
    finally:
        server.kill()
        server.wait()
    assert resumed["classes"] == undisturbed["classes"]
    assert (tmp_path / "backgrounds.json").read_bytes() == (tmp_path / "clean.json").read_bytes()


def test_hanging_server_is_cut_off_by_the_timeout_naming_the_class(tmp_path):
    names = classes(8)
    port = free_port()
    llm = llm_config(f"http://127.0.0.1:{port}/v1", tmp_path / "cache", timeout=0.5)
    with FaultServer(Faults(hang=("object-003",)), port=port):
        started = time.monotonic()
        with pytest.raises(LLMRequestError, match=r"class 'object-003'.*2 attempts.*timeout=0.5 s"):
            run(tmp_path, names, llm)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0  # two 0.5 s attempts, not the server's hour
    assert len(list((tmp_path / "cache").glob("*.json"))) == 7  # the other answers are kept
    with FaultServer(port=port) as server:
        result = run(tmp_path, names, llm)
        assert [class_of(r["user"]) for r in server.records] == ["object-003"]
    assert set(result["classes"]) == set(names)


def test_garbled_answer_names_the_class_and_is_asked_again_on_the_rerun(tmp_path):
    names = classes(6)
    port = free_port()
    llm = llm_config(f"http://127.0.0.1:{port}/v1", tmp_path / "cache")
    with FaultServer(Faults(garble=("object-004",)), port=port) as server:
        with pytest.raises(ValueError, match=r"no usable background for class 'object-004'"):
            run(tmp_path, names, llm)
        assert len(server.records) == 6
    assert not (tmp_path / "backgrounds.json").exists()
    with FaultServer(port=port) as server:  # the endpoint answers properly again
        result = run(tmp_path, names, llm)
        assert [class_of(r["user"]) for r in server.records] == ["object-004"]
    assert result["classes"]["object-004"]["backgrounds"]
