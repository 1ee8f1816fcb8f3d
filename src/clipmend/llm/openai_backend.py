"""The ``openai`` LLM backend: any OpenAI-compatible chat-completions server.

Works with the official API, vLLM, llama.cpp's server and the like. The API key is read
from an environment variable only and never logged, cached or put in an error message.
Answers with at least one usable background are cached on disk, one JSON file per
request, keyed by everything that shapes the answer, so a re-run or a second data set
makes no API call for them. Failed requests are retried with bounded exponential backoff
and jitter on rate limits (429), server errors (5xx), timeouts and connection errors;
other HTTP errors fail at once.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import openai

from clipmend.llm.answer_cache import cache_path, read_cache, write_cache
from clipmend.llm.parse import parse_backgrounds
from clipmend.llm.registry import Answer, format_prompt, register_backend
from clipmend.llm.retry import retry_after, retryable

log = logging.getLogger(__name__)

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
DEFAULT_SYSTEM_PROMPT = (
    "Answer with only a JSON list of short background phrases (1 to 4 words each) "
    'naming places or scenes, for example ["desert", "snowy mountain", "city street"].'
)
LOCAL_PLACEHOLDER_KEY = "sk-no-key-needed-for-local-server"
_KEY_LIKE = re.compile(r"(Bearer\s+)?\bsk-[A-Za-z0-9_\-*.]{3,}")
_STATUS_HINTS = {
    401: "check the API key in the environment variable {env}",
    403: "check the API key in the environment variable {env} and its permissions",
    404: "check llm.options.model and llm.options.base_url",
}


class LLMRequestError(RuntimeError):
    """A request to the LLM server failed for good (at once or after the retries)."""


@register_backend("openai")
class OpenAIBackend:
    """Asks an OpenAI-compatible chat-completions server for each class's backgrounds."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        api_key_env: str = "OPENAI_API_KEY",
        cache_dir: str | os.PathLike | None = None,
        max_retries: int = 4,
        timeout: float = 60.0,
        concurrency: int = 4,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        price_per_1k_tokens: dict[str, float] | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
    ):
        _check_options(locals())
        self.model = model
        self.base_url = (base_url or OFFICIAL_BASE_URL).rstrip("/")
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.api_key_env = api_key_env
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.concurrency = int(concurrency)
        self.system_prompt = system_prompt
        self.price_per_1k_tokens = dict(price_per_1k_tokens) if price_per_1k_tokens else None
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self._client = openai.OpenAI(
            api_key=_api_key(api_key_env, self.base_url),
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,
        )
        self._totals: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def ask(self, class_names: Sequence[str], prompt: str) -> dict[str, Answer]:
        """Ask ``prompt`` for every class (cached, concurrent, retried) and parse the answers."""
        texts = {name: format_prompt(prompt, name) for name in class_names}
        workers = max(1, min(self.concurrency, len(texts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            futures = {name: pool.submit(self._answer, name, text) for name, text in texts.items()}
            try:
                answers = {name: future.result() for name, future in futures.items()}
            except BaseException:
                for future in futures.values():
                    future.cancel()
                raise
        log.info("llm usage so far: %s", self.summary())
        return answers

    def summary(self) -> dict[str, Any]:
        """Totals for this backend's run: requests, cache hits, tokens, estimated cost."""
        with self._lock:
            totals = Counter(self._totals)
        prompt_tokens, completion_tokens = totals["prompt_tokens"], totals["completion_tokens"]
        return {
            "model": self.model,
            "base_url": self.base_url,
            "requests": totals["requests"],
            "attempts": totals["attempts"],
            "retries": totals["retries"],
            "cache_hits": totals["cache_hits"],
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "estimated_cost": self._cost(prompt_tokens, completion_tokens),
        }

    def _answer(self, class_name: str, text: str) -> Answer:
        """One class's answer, from the cache if possible, else from the server."""
        request = self._request_fields(text)
        path = self._cache_path(request)
        cached = read_cache(path, request) if path else None
        if cached is not None:
            self._count(cache_hits=1)
            log.debug("llm cache hit for class %r (%s)", class_name, path)
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached": 1}
            return Answer(raw=cached, items=parse_backgrounds(cached), usage=usage)
        raw, usage = self._complete(class_name, request)
        items = parse_backgrounds(raw)
        if path and items:  # an answer with no usable background is asked again on a re-run
            write_cache(path, request, raw, usage)
        return Answer(raw=raw, items=items, usage={**usage, "cached": 0})

    def _request_fields(self, text: str) -> dict[str, Any]:
        """Everything that shapes the answer: the cache key's contents."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "system_prompt": self.system_prompt,
            "prompt": text,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def _cache_path(self, request: dict[str, Any]) -> Path | None:
        """The cache file for a request, or None without a cache directory."""
        if self.cache_dir is None:
            return None
        return cache_path(self.cache_dir, request)

    def _complete(self, class_name: str, request: dict[str, Any]) -> tuple[str, dict[str, int]]:
        """Call the server with bounded retries; return the answer text and token usage."""
        messages = [{"role": "user", "content": request["prompt"]}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        attempt = 0
        while True:
            self._count(attempts=1)
            try:
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                )
            except openai.APIStatusError as err:
                if not retryable(err.status_code):
                    raise LLMRequestError(self._status_message(class_name, err)) from None
                reason = f"HTTP {err.status_code}: {self._scrub(err.message)[:200]}"
                wait = retry_after(err.response.headers)
            except openai.APITimeoutError:
                reason, wait = f"no answer within llm.options.timeout={self.timeout:g} s", None
            except openai.APIConnectionError as err:
                reason, wait = f"connection error: {self._scrub(str(err.__cause__ or err))}", None
            except json.JSONDecodeError as err:
                raise LLMRequestError(
                    f"{self._where(class_name)} got a response body that is not JSON ({err})"
                ) from None
            else:
                return self._read_response(class_name, response)
            if attempt == self.max_retries:
                raise LLMRequestError(
                    f"{self._where(class_name)} failed after {attempt + 1} attempts "
                    f"(llm.options.max_retries={self.max_retries}); last error: {reason}"
                )
            delay = self._delay(attempt, wait)
            self._count(retries=1)
            log.warning(
                "%s failed (%s); retry %d of %d in %.2f s",
                self._where(class_name), reason, attempt + 1, self.max_retries, delay,
            )
            time.sleep(delay)
            attempt += 1

    def _read_response(self, class_name: str, response: Any) -> tuple[str, dict[str, int]]:
        """The answer text and token usage of a chat completion, with a clear malformed error."""
        try:
            content = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise LLMRequestError(
                f"{self._where(class_name)} got a malformed response (no choices[0].message): "
                f"{self._scrub(str(response))[:200]!r}"
            ) from None
        usage = getattr(response, "usage", None)
        counts = {
            "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        }
        self._count(requests=1, **counts)
        return content, counts

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, at least the server's Retry-After, capped."""
        backoff = self.backoff_base * 2**attempt * random.uniform(0.5, 1.0)
        return min(self.backoff_max, max(backoff, retry_after or 0.0))

    def _status_message(self, class_name: str, err: openai.APIStatusError) -> str:
        """A clear, key-free message for an HTTP error that is not retried."""
        default = "check llm.prompt and llm.options (model, max_tokens, temperature)"
        hint = _STATUS_HINTS.get(err.status_code, default)
        return (
            f"{self._where(class_name)} was rejected with HTTP {err.status_code}: "
            f"{self._scrub(err.message)[:300]}; {hint.format(env=self.api_key_env)}"
        )

    def _where(self, class_name: str) -> str:
        """Which request this is, for messages: class, model and server."""
        return f"llm request for class {class_name!r} (model {self.model!r} at {self.base_url})"

    def _scrub(self, text: str) -> str:
        """Remove the API key (and anything shaped like one) from a message."""
        key = self._client.api_key
        if key:
            text = text.replace(key, "***")
        return _KEY_LIKE.sub("***", text)

    def _count(self, **amounts: int) -> None:
        """Add to the run totals (thread-safe)."""
        with self._lock:
            self._totals.update(amounts)

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Estimated cost from llm.options.price_per_1k_tokens, or None when no prices are set."""
        if self.price_per_1k_tokens is None:
            return None
        price = self.price_per_1k_tokens
        cost = prompt_tokens * price["input"] + completion_tokens * price["output"]
        return round(cost / 1000, 6)


def _check_options(options: dict[str, Any]) -> None:
    """Raise a clear error for an invalid backend option from config."""
    checks = [
        ("model", isinstance(options["model"], str) and options["model"].strip(), "a model name"),
        ("temperature", _number_in(options["temperature"], 0, 2), "a number in [0, 2]"),
        ("max_tokens", _int_at_least(options["max_tokens"], 1), "an integer >= 1"),
        ("max_retries", _int_at_least(options["max_retries"], 0), "an integer >= 0"),
        ("timeout", _number_in(options["timeout"], 1e-3, float("inf")), "a number of seconds > 0"),
        ("concurrency", _int_at_least(options["concurrency"], 1), "an integer >= 1"),
        ("backoff_base", _number_in(options["backoff_base"], 0, float("inf")), "a number >= 0"),
        ("backoff_max", _number_in(options["backoff_max"], 0, float("inf")), "a number >= 0"),
        ("api_key_env", isinstance(options["api_key_env"], str) and options["api_key_env"],
         "the name of an environment variable"),
        ("system_prompt", isinstance(options["system_prompt"], str), "a string ('' for none)"),
        ("price_per_1k_tokens", _valid_prices(options["price_per_1k_tokens"]),
         "a mapping with numbers >= 0 for exactly the keys 'input' and 'output'"),
    ]
    for key, ok, valid in checks:
        if not ok:
            raise ValueError(f"llm.options.{key} must be {valid}, got {options[key]!r}")


def _number_in(value: Any, low: float, high: float) -> bool:
    """Whether value is a real number (not a bool) within [low, high]."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def _int_at_least(value: Any, low: int) -> bool:
    """Whether value is an integer (not a bool) >= low."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _valid_prices(prices: Any) -> bool:
    """Whether prices is None or {'input': x, 'output': y} with numbers >= 0."""
    if prices is None:
        return True
    return (
        isinstance(prices, dict)
        and set(prices) == {"input", "output"}
        and all(_number_in(v, 0, float("inf")) for v in prices.values())
    )


def _api_key(env_var: str, base_url: str) -> str:
    """The API key from the environment; a placeholder for a local server; else an error."""
    key = os.environ.get(env_var, "").strip()
    if key:
        return key
    if _is_local(base_url):
        log.info("%s is not set; sending a placeholder key to local server %s", env_var, base_url)
        return LOCAL_PLACEHOLDER_KEY
    raise ValueError(
        f"the environment variable {env_var} is not set, and {base_url} needs an API key: "
        f"export {env_var}=... (or set llm.options.api_key_env to the variable holding it)"
    )


def _is_local(url: str) -> bool:
    """Whether url points at this machine or a private network (no API key needed)."""
    host = urlparse(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if host and "." not in host and ":" not in host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
