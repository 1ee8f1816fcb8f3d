"""The openai backend against a real, scripted OpenAI-compatible HTTP server on 127.0.0.1.

The server is a stdlib ``http.server`` in a thread. Each test scripts its answers: a
queue of behaviours per class (matched by the class name in the user message) and a
default behaviour. The server records every request and the most requests it ever had
in flight at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict, deque
from http.server import ThreadingHTTPServer

import pytest

from clipmend.llm.backgrounds import propose_backgrounds
from clipmend.llm.openai_backend import LLMRequestError, OpenAIBackend
from clipmend.llm.registry import create_backend
from tests.llm_fault_server import ChatHandler, completion

PROMPT = "What are the uncommon backgrounds that a {class_name} can appear in?"
FAKE_KEY = "sk-clipmendLEAKCHECK-7f3a91c2e5"


class ScriptedServer:
    """A real HTTP server answering POST /v1/chat/completions from a per-test script."""

    def __init__(self):
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.reset()

    def reset(self) -> None:
        """Forget the script and the recorded requests."""
        with self.lock:
            self.queues: dict[str, deque] = defaultdict(deque)
            self.default = {"content": '["desert", "caves"]'}
            self.requests: list[dict] = []
            self.in_flight = 0
            self.max_in_flight = 0

    def script(self, class_name: str, *behaviours: dict) -> None:
        """Queue behaviours for the next requests that mention class_name."""
        with self.lock:
            self.queues[class_name].extend(behaviours)

    def requests_for(self, class_name: str) -> list[dict]:
        """The recorded requests whose user message mentions class_name."""
        return [r for r in self.requests if class_name in r["user"]]

    def next_behaviour(self, user_message: str) -> dict:
        """Pop the scripted behaviour for this request, or the default one."""
        with self.lock:
            for class_name, queue in self.queues.items():
                if class_name in user_message and queue:
                    return queue.popleft()
            return dict(self.default)


def _handler_for(server: ScriptedServer) -> type[ChatHandler]:
    """A request handler class bound to one ScriptedServer."""

    class Handler(ChatHandler):
        def do_POST(self):
            body, user = self.read_chat()
            with server.lock:
                server.requests.append({
                    "time": time.monotonic(), "user": user, "body": body,
                    "authorization": self.headers.get("Authorization", ""),
                })
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer(server.next_behaviour(user), body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _answer(self, behaviour: dict, body: dict) -> None:
            time.sleep(behaviour.get("delay", 0.0))
            status = behaviour.get("status", 200)
            if status == 200 and "raw_body" not in behaviour:
                payload = completion(body["model"], behaviour["content"])
            elif "raw_body" in behaviour:
                payload = behaviour["raw_body"]
            else:
                message = behaviour.get("message", f"scripted error {status}")
                if behaviour.get("echo_auth"):
                    message += f" (you sent {self.headers.get('Authorization')})"
                payload = {"error": {"message": message, "type": "scripted", "code": status}}
            self.send_json(status, payload, behaviour.get("headers"))

    return Handler


@pytest.fixture(scope="module")
def http_server():
    server = ScriptedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def server(http_server):
    http_server.reset()
    return http_server


@pytest.fixture
def make_backend(server, tmp_path, monkeypatch):
    """Build an OpenAIBackend talking to the scripted server, with fast retries."""
    monkeypatch.setenv("CLIPMEND_TEST_KEY", FAKE_KEY)

    def make(**options):
        settings = dict(
            model="test-model", base_url=server.base_url, api_key_env="CLIPMEND_TEST_KEY",
            cache_dir=tmp_path / "cache", max_retries=2, timeout=5.0, backoff_base=0.01,
            backoff_max=1.0, max_tokens=64,
        )
        settings.update(options)
        return OpenAIBackend(**settings)

    return make


def test_normal_json_answer(server, make_backend):
    server.script("sea lion", {"content": '["Desert", "Rain forests", "Urban areas"]'})
    backend = make_backend()
    answers = backend.ask(["sea lion"], PROMPT)
    answer = answers["sea lion"]
    assert answer.raw == '["Desert", "Rain forests", "Urban areas"]'
    assert answer.items == ["Desert", "Rain forests", "Urban areas"]
    assert answer.usage == {"prompt_tokens": 20, "completion_tokens": 7, "cached": 0}
    [request] = server.requests
    body = request["body"]
    assert body["model"] == "test-model"
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0
    assert body["messages"][0]["role"] == "system" and "JSON list" in body["messages"][0]["content"]
    assert request["user"] == "What are the uncommon backgrounds that a sea lion can appear in?"
    assert request["authorization"] == f"Bearer {FAKE_KEY}"


def test_messy_markdown_answer_and_the_full_proposal(server, make_backend):
    messy = (
        "Sure! Here are some uncommon backgrounds for a Siberian husky:\n\n"
        "1. **Jungle canopies**: huskies are built for snow.\n"
        "2. **Jungle canopy** - again.\n"
        "3. In the sky\n"
        "4. Caves, dark and damp.\n\n"
        "Let me know if you need more!"
    )
    server.script("Siberian husky", {"content": messy})
    backend = make_backend(price_per_1k_tokens={"input": 0.5, "output": 1.5})
    result = propose_backgrounds(backend, ["Siberian husky"], PROMPT)
    husky = result["classes"]["Siberian husky"]
    assert husky["raw"] == messy
    assert husky["parsed"] == ["Jungle canopies", "Jungle canopy", "In the sky", "Caves"]
    assert husky["backgrounds"] == ["jungle canopies", "in the sky", "caves"]
    assert result["backend"] == "openai"
    usage = result["usage"]
    assert usage["requests"] == 1 and usage["cache_hits"] == 0
    assert usage["prompt_tokens"] == 20 and usage["completion_tokens"] == 7
    assert usage["estimated_cost"] == pytest.approx((20 * 0.5 + 7 * 1.5) / 1000)


def test_server_error_then_success_is_retried_and_counted(server, make_backend, caplog):
    server.script("cat", {"status": 500}, {"status": 503}, {"content": '["attic"]'})
    backend = make_backend()
    with caplog.at_level(logging.WARNING, logger="clipmend.llm.openai_backend"):
        answer = backend.ask(["cat"], PROMPT)["cat"]
    assert answer.items == ["attic"]
    assert len(server.requests) == 3
    summary = backend.summary()
    assert summary["attempts"] == 3 and summary["retries"] == 2 and summary["requests"] == 1
    assert "HTTP 500" in caplog.text and "HTTP 503" in caplog.text and "'cat'" in caplog.text


def test_rate_limit_waits_for_retry_after(server, make_backend):
    server.script(
        "cat", {"status": 429, "headers": {"Retry-After": "0.4"}}, {"content": '["attic"]'}
    )
    backend = make_backend()
    assert backend.ask(["cat"], PROMPT)["cat"].items == ["attic"]
    first, second = server.requests
    assert second["time"] - first["time"] >= 0.4
    assert backend.summary()["retries"] == 1


def test_permanent_client_error_fails_at_once_with_a_clear_message(server, make_backend):
    server.script("cat", {"status": 400, "message": "max_tokens is too large"})
    backend = make_backend(max_retries=4)
    with pytest.raises(LLMRequestError) as err:
        backend.ask(["cat"], PROMPT)
    message = str(err.value)
    assert len(server.requests) == 1
    assert "'cat'" in message and "'test-model'" in message and server.base_url in message
    assert "HTTP 400" in message and "max_tokens is too large" in message


def test_unknown_model_404_names_the_settings_to_check(server, make_backend):
    server.script("cat", {"status": 404, "message": "model 'nope' not found"})
    with pytest.raises(LLMRequestError, match=r"HTTP 404.*check llm.options.model and .*base_url"):
        make_backend(model="nope").ask(["cat"], PROMPT)
    assert len(server.requests) == 1


def test_slow_server_times_out_retries_then_fails_clearly(server, make_backend):
    server.script("cat", {"delay": 1.5, "content": '["attic"]'}, {"delay": 1.5, "content": "[]"})
    backend = make_backend(timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMRequestError) as err:
        backend.ask(["cat"], PROMPT)
    assert time.monotonic() - started < 1.5
    message = str(err.value)
    assert "'cat'" in message and "after 2 attempts" in message
    assert "no answer within llm.options.timeout=0.3 s" in message
    assert len(server.requests) == 2


def test_unreachable_server_is_a_retried_connection_error(make_backend):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make_backend(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(LLMRequestError, match=r"'cat'.*after 2 attempts.*connection error"):
        backend.ask(["cat"], PROMPT)


def test_garbled_answer_is_a_value_error_naming_the_class(server, make_backend):
    server.script("croquet ball", *[{"content": "!!! ### ??? \n\n ... "}] * 2)  # not cached: asked twice
    backend = make_backend()
    answers = backend.ask(["sea lion", "croquet ball"], PROMPT)
    assert answers["croquet ball"].items == []
    with pytest.raises(ValueError, match=r"no usable background for class 'croquet ball'"):
        propose_backgrounds(backend, ["sea lion", "croquet ball"], PROMPT)


def test_garbled_answer_uses_the_configured_fallback(server, make_backend):
    server.script("croquet ball", {"content": "I'm sorry, I can't help with that."})
    result = propose_backgrounds(
        make_backend(), ["croquet ball"], PROMPT, fallback=["busy street", "frozen lake"]
    )
    assert result["classes"]["croquet ball"]["backgrounds"] == ["busy street", "frozen lake"]


@pytest.mark.parametrize(
    "body, error",
    [('{"unexpected": true}', "malformed response"), ("<html>oops</html>", "not JSON")],
)
def test_malformed_response_body_is_a_clear_error(server, make_backend, body, error):
    server.script("cat", {"raw_body": body})
    with pytest.raises(LLMRequestError, match=rf"'cat'.*{error}"):
        make_backend().ask(["cat"], PROMPT)
    assert len(server.requests) == 1


def test_second_call_is_served_from_the_cache(server, make_backend, tmp_path):
    backend = make_backend()
    first = backend.ask(["sea lion", "husky"], PROMPT)
    assert len(server.requests) == 2
    again = make_backend().ask(["sea lion", "husky"], PROMPT)
    assert len(server.requests) == 2
    assert {c: a.items for c, a in again.items()} == {c: a.items for c, a in first.items()}
    assert again["husky"].usage == {"prompt_tokens": 0, "completion_tokens": 0, "cached": 1}
    files = sorted((tmp_path / "cache").glob("*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    assert record["request"]["model"] == "test-model" and record["raw"]


@pytest.mark.parametrize(
    "change", [{"model": "other"}, {"temperature": 0.7}, {"max_tokens": 32}, {"system_prompt": ""}]
)
def test_cache_key_covers_the_request_parameters(server, make_backend, change):
    make_backend().ask(["cat"], PROMPT)
    make_backend(**change).ask(["cat"], PROMPT)
    assert len(server.requests) == 2


def test_cache_key_covers_the_prompt(server, make_backend):
    make_backend().ask(["cat"], PROMPT)
    make_backend().ask(["cat"], "Where would a {class_name} look out of place?")
    assert len(server.requests) == 2


def test_empty_answers_and_corrupt_cache_files_are_not_reused(server, make_backend, tmp_path):
    server.script("cat", {"content": ""}, {"content": '["attic"]'})
    assert make_backend().ask(["cat"], PROMPT)["cat"].items == []
    assert make_backend().ask(["cat"], PROMPT)["cat"].items == ["attic"]
    [path] = (tmp_path / "cache").glob("*.json")
    path.write_text("{not json")
    assert make_backend().ask(["cat"], PROMPT)["cat"].items == ["desert", "caves"]
    assert len(server.requests) == 3


def test_concurrency_limit_is_respected(server, make_backend):
    server.default = {"content": '["attic"]', "delay": 0.5}
    classes = [f"class{i}" for i in range(8)]
    answers = make_backend(concurrency=3, cache_dir=None).ask(classes, PROMPT)
    assert list(answers) == classes
    assert len(server.requests) == 8
    # never more than the limit; more than one at once (exactly 3 needs the threads to be
    # scheduled within the delay, which a loaded machine does not promise)
    assert 1 < server.max_in_flight <= 3


def test_created_by_name_from_config(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = create_backend("openai", model="test-model", base_url=server.base_url)
    assert backend.ask(["cat"], PROMPT)["cat"].items == ["desert", "caves"]
    assert server.requests[0]["authorization"].startswith("Bearer sk-no-key")


def test_missing_key_for_the_official_api_names_the_env_var(monkeypatch):
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    with pytest.raises(ValueError, match=r"variable MY_LLM_KEY is not set.*api\.openai"):
        OpenAIBackend(model="gpt-4o-mini", api_key_env="MY_LLM_KEY")


@pytest.mark.parametrize(
    "option, value",
    [
        ("temperature", 3), ("max_tokens", 0), ("max_retries", -1), ("timeout", 0),
        ("concurrency", 0), ("model", ""), ("price_per_1k_tokens", {"input": 1}),
    ],
)
def test_bad_options_are_clear_errors(make_backend, option, value):
    with pytest.raises(ValueError, match=rf"llm\.options\.{option} must be .*got {value!r}"):
        make_backend(**{option: value})


def test_api_key_never_appears_in_logs_errors_or_cache(
    server, make_backend, tmp_path, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    server.script("cat", {"status": 500, "echo_auth": True}, {"content": '["attic"]'})
    server.script("dog", {"status": 401, "echo_auth": True, "message": f"bad key {FAKE_KEY}"})
    backend = make_backend(max_retries=1)
    assert backend.ask(["cat"], PROMPT)["cat"].items == ["attic"]
    with pytest.raises(LLMRequestError) as err:
        backend.ask(["dog"], PROMPT)
    assert server.requests[-1]["authorization"] == f"Bearer {FAKE_KEY}"
    assert "HTTP 401" in str(err.value) and "CLIPMEND_TEST_KEY" in str(err.value)
    captured = capsys.readouterr()
    texts = [str(err.value), repr(err.value), caplog.text, captured.out, captured.err]
    texts += [repr(backend)]
    texts += [p.read_text() for p in (tmp_path / "cache").glob("*.json")]
    texts += [json.dumps(backend.summary())]
    for text in texts:
        assert FAKE_KEY not in text
        assert "LEAKCHECK" not in text
