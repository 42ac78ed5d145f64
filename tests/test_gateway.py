"""The model gateway used directly (patterns work without Slack): streaming metered exactly, tool calls, errors."""

from __future__ import annotations

import pytest

from bot.model.gateway import Gateway, ModelError
from bot.model.metering import Meter
from bot.settings import load_settings
from doubles.model_server import ModelServer, Reply
from tests.conftest import MODEL_KEY, PRICES


@pytest.fixture
def gateway(model: ModelServer) -> Gateway:
    import json

    settings = load_settings(
        openai_base_url=model.base_url,
        openai_api_key=MODEL_KEY,
        model="test-model",
        model_prices=json.dumps(PRICES),
        model_max_retries=1,
        model_timeout_seconds=5,
    )
    return Gateway(settings)


def test_streamed_chat_is_metered_exactly_from_the_usage_chunk(gateway: Gateway, model: ModelServer) -> None:
    model.enqueue(Reply(text="Streaming answers grow in place, chunk by chunk, until the end."))
    meter = Meter()
    stream = gateway.stream_chat([{"role": "user", "content": "hi"}], pattern="chat", meter=meter)
    deltas = list(stream)

    assert len(deltas) > 1 and "".join(deltas) == "Streaming answers grow in place, chunk by chunk, until the end."
    call = model.calls_to("/chat/completions")[0]
    assert call.body["stream"] is True and call.body["stream_options"] == {"include_usage": True}
    assert (meter.prompt_tokens, meter.completion_tokens) == (
        call.usage["prompt_tokens"],
        call.usage["completion_tokens"],
    )
    assert meter.cost_usd == (call.usage["prompt_tokens"] * 2.0 + call.usage["completion_tokens"] * 8.0) / 1e6
    assert meter.ttft_ms is not None


def test_a_stream_cut_midway_keeps_the_partial_text(gateway: Gateway, model: ModelServer) -> None:
    model.enqueue(Reply(text="one two three four five six seven eight nine ten", cut_after_chunks=2))
    stream = gateway.stream_chat([{"role": "user", "content": "count"}], pattern="chat", meter=Meter())
    with pytest.raises(ModelError) as error:
        for _ in stream:
            pass
    assert error.value.kind == "stream_broken"
    assert stream.text and "one two three four five six seven eight nine ten".startswith(stream.text)


def test_tool_calls_come_back_parsed(gateway: Gateway, model: ModelServer) -> None:
    model.enqueue(Reply(tool_calls=[{"name": "calculate", "arguments": {"expression": "2+2"}}]))
    tools = [{"type": "function", "function": {"name": "calculate", "parameters": {"type": "object"}}}]
    result = gateway.chat([{"role": "user", "content": "2+2?"}], pattern="agent", meter=Meter(), tools=tools)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("calculate", '{"expression": "2+2"}')]
    assert model.calls_to("/chat/completions")[0].body["tools"] == tools


def test_embeddings_are_metered(gateway: Gateway, model: ModelServer) -> None:
    meter = Meter()
    vectors = gateway.embed(["refund policy", "holiday calendar"], meter=meter)
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0
    assert meter.prompt_tokens == model.calls_to("/embeddings")[0].usage["prompt_tokens"] > 0


def test_wrong_key_is_an_auth_error(model: ModelServer) -> None:
    settings = load_settings(openai_base_url=model.base_url, openai_api_key="sk-wrong", model_max_retries=0)
    with pytest.raises(ModelError) as error:
        Gateway(settings).chat([{"role": "user", "content": "hi"}], pattern="chat", meter=Meter())
    assert error.value.kind == "auth"
    assert "admin" in error.value.user_message


def test_deterministic_requests_are_cached_and_cost_nothing_the_second_time(model: ModelServer) -> None:
    import json

    import redis

    from bot.model.cache import ResponseCache
    from tests.conftest import REDIS_URL

    settings = load_settings(
        openai_base_url=model.base_url,
        openai_api_key=MODEL_KEY,
        model="test-model",
        model_prices=json.dumps(PRICES),
        cache_ttl_seconds=60,
    )
    gateway = Gateway(settings, ResponseCache(redis.Redis.from_url(REDIS_URL), 60))
    first, second = Meter(), Meter()
    gateway.embed(["refund policy"], meter=first)
    gateway.chat([{"role": "user", "content": "cache me"}], pattern="chat", meter=first, temperature=0)
    vectors = gateway.embed(["refund policy"], meter=second)
    result = gateway.chat([{"role": "user", "content": "cache me"}], pattern="chat", meter=second, temperature=0)
    gateway.chat([{"role": "user", "content": "cache me"}], pattern="chat", meter=Meter(), temperature=0.7)

    assert len(model.calls_to("/embeddings")) == 1 and len(vectors[0]) > 0
    assert len(model.calls_to("/chat/completions")) == 2  # the creative (temperature 0.7) call is never cached
    assert result.cached and second.cache_hit and not first.cache_hit
    assert second.cost_usd == 0 and second.prompt_tokens == first.prompt_tokens
