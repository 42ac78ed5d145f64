"""The model gateway: every model call of every pattern goes through here.

It owns timeouts and retries (the `openai` client's own: exponential backoff on 408/409/429/5xx and connection
errors, honoring `Retry-After`), the Redis response cache for deterministic requests, token and cost accounting
into the request's `Meter`, and the offline engine when no model is configured.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from bot.model.cache import ResponseCache
from bot.model.metering import Meter
from bot.model.offline import OFFLINE_MODEL, offline_reply
from bot.model.offline_agent import offline_agent_turn
from bot.model.params import request_params
from bot.settings import Pattern, Settings
from bot.text import estimate_tokens

log = logging.getLogger(__name__)

Message = dict[str, Any]


class ModelError(Exception):
    """A model call failed after retries. `kind` is recorded in the ledger; `user_message` is shown in Slack."""

    USER_MESSAGES = {
        "timeout": "The language model took too long to answer. Please try again in a minute.",
        "rate_limited": "The language model is busy right now (rate limited). Please try again in a minute.",
        "server_error": "The language model service had an error. Please try again in a minute.",
        "connection": "I couldn't reach the language model service. Please try again in a minute.",
        "auth": "The bot's model credentials were rejected. An admin needs to check the bot's configuration.",
        "bad_request": "The language model rejected this request.",
        "empty_answer": "The language model returned an empty answer. Please try again.",
        "stream_broken": "The language model's answer was cut off.",
    }

    def __init__(self, kind: str, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self._user_message = user_message

    @property
    def user_message(self) -> str:
        """What the user is told: a message given by the raiser, or the plain words for the kind."""
        if self._user_message:
            return self._user_message
        return self.USER_MESSAGES.get(self.kind, "The language model call failed. Please try again.")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class ChatResult:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    offline: bool = False
    finish_reason: str = "stop"
    tool_calls: list[ToolCall] = field(default_factory=list)


class Gateway:
    def __init__(self, settings: Settings, cache: ResponseCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.client: openai.OpenAI | None = None
        if settings.model_configured:
            self.client = openai.OpenAI(
                base_url=settings.openai_base_url,
                api_key=settings.secret("openai_api_key") or "no-key",
                timeout=settings.model_timeout_seconds,
                max_retries=settings.model_max_retries,
            )

    @property
    def offline(self) -> bool:
        return self.client is None

    def model_name(self, pattern: Pattern) -> str:
        return OFFLINE_MODEL if self.offline else self.settings.model_for(pattern)

    def request_params(self, model: str, temperature: float, max_tokens: int | None) -> dict[str, Any]:
        """Sampling parameters in the form `model` accepts (reasoning models take no temperature and want
        `max_completion_tokens`; see `bot/model/params.py`)."""
        return request_params(
            model, temperature=temperature, max_tokens=max_tokens, overrides=self.settings.model_rules
        )

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price_in, price_out = self.settings.prices.get(model, (0.0, 0.0))
        return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000

    def estimate(self, pattern: Pattern, prompt_tokens: int, completion_tokens: int) -> float:
        """What a request of this size would cost with the pattern's model (nothing offline), before it is made."""
        return 0.0 if self.offline else self.cost(self.model_name(pattern), prompt_tokens, completion_tokens)

    # Plain chat -------------------------------------------------------------------------------------------

    def chat(
        self,
        messages: list[Message],
        *,
        pattern: Pattern,
        meter: Meter,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        task: str = "chat",
    ) -> ChatResult:
        """One chat completion. `task` tells the offline engine what was asked (e.g. "summarize")."""
        if self.client is None:
            return self._offline(messages, task, meter)
        model = self.settings.model_for(pattern)
        params = self.request_params(model, temperature, max_tokens)
        if tools:
            params["tools"] = tools
        key = self._cache_key(model, messages, params, temperature)
        if key and (hit := self.cache.get(key)):  # type: ignore[union-attr]
            result = _result_from_cache(hit, model)
            meter.add_call(
                model=model,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                cost_usd=0.0,
                cached=True,
            )
            meter.first_token()
            meter.log_exchange(messages, result.text)
            return result
        try:
            response = self.client.chat.completions.create(model=model, messages=messages, **params)
        except openai.OpenAIError as error:
            raise _model_error(error) from error
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        tool_calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in (choice.message.tool_calls or [] if choice else [])
            if getattr(c, "function", None)
        ]
        usage = response.usage
        if usage is None:  # a server that reports no usage: estimated, and the ledger row says so
            prompt_tokens = sum(estimate_tokens(str(m.get("content") or "")) + 3 for m in messages)
            completion_tokens = estimate_tokens(text)
        else:
            prompt_tokens, completion_tokens = usage.prompt_tokens, usage.completion_tokens
        result = ChatResult(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=(choice.finish_reason if choice else None) or "stop",
            tool_calls=tool_calls,
        )
        result.cost_usd = self.cost(model, result.prompt_tokens, result.completion_tokens)
        meter.add_call(
            model=model,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            cached=False,
            estimated=usage is None,
        )
        meter.first_token()
        meter.log_exchange(messages, text)
        if not text.strip() and not tool_calls:
            raise ModelError("empty_answer")
        if key:
            self.cache.put(key, _result_to_cache(result))  # type: ignore[union-attr]
        return result

    # Streamed chat ----------------------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: list[Message],
        *,
        pattern: Pattern,
        meter: Meter,
        temperature: float = 0.7,
        max_tokens: int | None = None,
        task: str = "chat",
    ) -> ChatStream:
        if max_tokens is None:
            max_tokens = self.settings.answer_max_tokens
        return ChatStream(
            self, messages, pattern=pattern, meter=meter, temperature=temperature, max_tokens=max_tokens, task=task
        )

    # Embeddings -------------------------------------------------------------------------------------------

    def embed(self, texts: list[str], *, meter: Meter) -> list[list[float]]:
        if self.client is None:
            raise ModelError("bad_request", "no embedding model configured")
        model = self.settings.embedding_model
        # Embeddings are deterministic: a repeated query (the same docs question again) costs nothing.
        key = self.cache.key(model=model, embed=texts) if self.cache is not None else None
        if key and (hit := self.cache.get(key)):  # type: ignore[union-attr]
            meter.add_call(model=model, prompt_tokens=hit["tokens"], completion_tokens=0, cost_usd=0.0, cached=True)
            return hit["vectors"]
        try:
            response = self.client.embeddings.create(model=model, input=texts)
        except openai.OpenAIError as error:
            raise _model_error(error) from error
        tokens = response.usage.prompt_tokens if response.usage else 0
        meter.add_call(
            model=model, prompt_tokens=tokens, completion_tokens=0, cost_usd=self.cost(model, tokens, 0), cached=False
        )
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        if key and len(texts) <= 16:  # queries, not bulk ingestion
            self.cache.put(key, {"tokens": tokens, "vectors": vectors})  # type: ignore[union-attr]
        return vectors

    # Internals --------------------------------------------------------------------------------------------

    def _offline(self, messages: list[Message], task: str, meter: Meter) -> ChatResult:
        meter.add_call(model=OFFLINE_MODEL, prompt_tokens=0, completion_tokens=0, cost_usd=0.0, cached=False)
        meter.first_token()
        if task == "agent":  # runs the tool the task names, then shows its result
            text, call = offline_agent_turn(messages)
            calls = [ToolCall(f"offline-{len(messages)}", call[0], json.dumps(call[1]))] if call else []
            meter.log_exchange(messages, text)
            return ChatResult(text=text, model=OFFLINE_MODEL, offline=True, tool_calls=calls)
        text = offline_reply(task, _last_user_text(messages))
        meter.log_exchange(messages, text)
        return ChatResult(text=text, model=OFFLINE_MODEL, offline=True)

    def _cache_key(self, model: str, messages: list[Message], params: dict[str, Any], temperature: float) -> str | None:
        """Only deterministic requests (asked at temperature 0) are cached."""
        if self.cache is None or temperature != 0:
            return None
        return self.cache.key(model=model, messages=messages, params=params)


class ChatStream:
    """Iterate for text deltas as the model writes; `result` holds the totals once iteration ends.

    Metered exactly via `stream_options.include_usage`. A stream that breaks after some text raises
    `ModelError("stream_broken")`; the text received so far stays in `text`.
    """

    def __init__(
        self,
        gateway: Gateway,
        messages: list[Message],
        *,
        pattern: Pattern,
        meter: Meter,
        temperature: float,
        max_tokens: int | None,
        task: str,
    ) -> None:
        self.gateway, self.messages, self.pattern, self.meter = gateway, messages, pattern, meter
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.task = task
        self.text = ""
        self.result: ChatResult | None = None

    def __iter__(self) -> Iterator[str]:
        gateway = self.gateway
        if gateway.client is None:
            self.result = gateway._offline(self.messages, self.task, self.meter)
            yield from self._emit(self.result.text)
            return
        model = gateway.settings.model_for(self.pattern)
        params = gateway.request_params(model, self.temperature, self.max_tokens)
        key = gateway._cache_key(model, self.messages, params, self.temperature)
        if key and (hit := gateway.cache.get(key)):  # type: ignore[union-attr]
            self.result = _result_from_cache(hit, model)
            self.meter.add_call(
                model=model,
                prompt_tokens=self.result.prompt_tokens,
                completion_tokens=self.result.completion_tokens,
                cost_usd=0.0,
                cached=True,
            )
            self.meter.log_exchange(self.messages, self.result.text)
            yield from self._emit(self.result.text)
            return
        usage = None
        finish_reason = "stop"
        try:
            stream = gateway.client.chat.completions.create(
                model=model,
                messages=self.messages,
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    if choice.delta and choice.delta.content:
                        yield from self._emit(choice.delta.content)
        except GeneratorExit:  # the reader stopped early (Stop button, superseded): meter what was generated
            self._meter(model, usage)
            raise
        except openai.OpenAIError as error:
            self._meter(model, usage)
            raise (ModelError("stream_broken", str(error)) if self.text else _model_error(error)) from error
        except Exception as error:  # malformed SSE and cut connections surface as various errors
            self._meter(model, usage)
            raise ModelError("stream_broken" if self.text else "server_error", type(error).__name__) from error
        self.result = self._meter(model, usage)
        self.result.finish_reason = finish_reason
        if not self.text.strip():
            raise ModelError("empty_answer")
        if key:
            gateway.cache.put(key, _result_to_cache(self.result))  # type: ignore[union-attr]

    def _emit(self, delta: str) -> Iterator[str]:
        self.meter.first_token()
        self.text += delta
        yield delta

    def _meter(self, model: str, usage: Any) -> ChatResult:
        """Record the call. Without the usage chunk (a stream cut or stopped early, or a server that sends none),
        tokens are estimated, and the meter says so."""
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
        else:
            prompt = sum(estimate_tokens(str(m.get("content") or "")) + 3 for m in self.messages)
            completion = estimate_tokens(self.text)
        cost = self.gateway.cost(model, prompt, completion)
        self.meter.add_call(
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
            cached=False,
            estimated=usage is None,
        )
        self.meter.log_exchange(self.messages, self.text)
        return ChatResult(
            text=self.text, model=model, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost
        )


def _model_error(error: openai.OpenAIError) -> ModelError:
    if isinstance(error, openai.APITimeoutError):
        return ModelError("timeout", str(error))
    if isinstance(error, openai.APIConnectionError):
        return ModelError("connection", str(error))
    if isinstance(error, openai.RateLimitError):
        return ModelError("rate_limited", str(error))
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ModelError("auth", type(error).__name__)
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return ModelError("server_error", f"HTTP {error.status_code}")
    if isinstance(error, openai.APIStatusError):
        return ModelError("bad_request", f"HTTP {error.status_code}")
    return ModelError("server_error", type(error).__name__)


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def _result_to_cache(result: ChatResult) -> dict[str, Any]:
    return {
        "text": result.text,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "finish_reason": result.finish_reason,
        "tool_calls": [vars(c) for c in result.tool_calls],
    }


def _result_from_cache(data: dict[str, Any], model: str) -> ChatResult:
    return ChatResult(
        text=data["text"],
        model=model,
        prompt_tokens=data.get("prompt_tokens", 0),
        completion_tokens=data.get("completion_tokens", 0),
        finish_reason=data.get("finish_reason", "stop"),
        tool_calls=[ToolCall(**c) for c in data.get("tool_calls", [])],
        cached=True,
    )
