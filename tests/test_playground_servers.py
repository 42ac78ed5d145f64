"""The playground servers speak Slack's and OpenAI's protocols to the real clients.

Fixtures are named ``slack_api``/``model_api`` so that conftest's session-wide ``slack``/``model``
servers (and its autouse seeding) stay out of these tests.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from doubles.http_server import CallLog
from doubles.model_server import ModelServer, Reply, count_tokens, embed, split_chunks
from doubles.slack import SlackServer

USER_MESSAGE = [{"role": "user", "content": "please summarise the quarterly report for the team"}]


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def slack_api() -> Iterator[SlackServer]:
    with SlackServer() as server:
        server.add_channel("C1", "general")
        server.add_channel("C2", "random", is_member=False)
        server.add_channel("D1", "", is_im=True)
        server.add_user("U1", "alice", real_name="Alice A")
        yield server


@pytest.fixture
def client(slack_api: SlackServer) -> WebClient:
    return WebClient(base_url=slack_api.api_url, token="xoxb-test")


@pytest.fixture
def model_api() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def llm(model_api: ModelServer) -> OpenAI:
    return OpenAI(base_url=model_api.base_url, api_key="k", max_retries=0)


def post_json(url: str, payload: object) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


# -- CallLog ---------------------------------------------------------------------------


def test_call_log_wait_for_wakes_on_record_and_times_out_helpfully() -> None:
    log: CallLog[str] = CallLog()
    threading.Thread(target=lambda: [log.record(f"call {i}") for i in range(3)]).start()
    assert log.wait_for(lambda: len(log.calls) == 3 and log.calls) == ["call 0", "call 1", "call 2"]
    with pytest.raises(TimeoutError, match="3 calls recorded"):
        log.wait_for(lambda: len(log.calls) > 3, timeout=0.05)


def test_call_log_wait_for_also_sees_external_state() -> None:
    log: CallLog[str] = CallLog()
    outside: list[int] = []  # changes without telling the log, like a database row
    threading.Thread(target=outside.append, args=(1,)).start()
    assert log.wait_for(lambda: outside, timeout=5) == [1]


# -- Slack: messages -------------------------------------------------------------------


def test_post_and_update_are_stored_with_bot_identity_and_edits(slack_api: SlackServer, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    posted = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    assert posted["ok"] and posted["channel"] == "C1"
    assert posted["message"]["bot_id"] == "BBOT" and posted["message"]["user"] == "UBOT"

    updated = client.chat_update(channel="C1", ts=posted["ts"], text="hello")
    assert updated["text"] == "hello" and updated["ts"] == posted["ts"]

    stored = slack_api.message("C1", posted["ts"])
    assert stored is not None and stored["text"] == "hello" and stored["blocks"] == blocks and "edited" in stored
    assert slack_api.edits("C1", posted["ts"]) == ["hi", "hello"]
    assert [m["text"] for m in slack_api.messages("C1")] == ["hello"]
    assert [c.method for c in slack_api.calls] == ["chat.postMessage", "chat.update"]
    assert slack_api.calls_to("chat.update")[0].params["text"] == "hello"


def test_ts_are_unique_and_increasing(slack_api: SlackServer) -> None:
    stamps = [slack_api.post("C1", f"m{i}") for i in range(50)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 50
    assert stamps[0] == "1700000000.000100"


def test_errors_use_slack_strings(slack_api: SlackServer, client: WebClient) -> None:
    human_ts = slack_api.post("C1", "from a person", user="U1")
    cases = [
        (lambda: client.chat_postMessage(channel="C9", text="x"), "channel_not_found"),
        (lambda: client.chat_postMessage(channel="C2", text="x"), "not_in_channel"),
        (lambda: client.conversations_history(channel="C2"), "not_in_channel"),
        (lambda: client.chat_postMessage(channel="C1", text="x" * 4001), "msg_too_long"),
        (lambda: client.chat_update(channel="C1", ts="1.2", text="x"), "message_not_found"),
        (lambda: client.chat_update(channel="C1", ts=human_ts, text="x"), "cant_update_message"),
        (lambda: client.users_info(user="U404"), "user_not_found"),
        (lambda: client.api_call("no.suchMethod"), "unknown_method"),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as raised:
            call()
        assert raised.value.response.status_code == 200
        assert raised.value.response["error"] == error


def test_history_is_newest_first_and_paginates(slack_api: SlackServer, client: WebClient) -> None:
    stamps = [slack_api.post("C1", f"message {i}") for i in range(5)]
    slack_api.post("C1", "a reply, not in history", thread_ts=stamps[0])

    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel="C1", limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert seen == stamps[::-1] and pages == 3

    window = client.conversations_history(channel="C1", oldest=stamps[1], latest=stamps[3], inclusive=True)
    assert [m["ts"] for m in window["messages"]] == stamps[3:0:-1]
    parent = next(m for m in client.conversations_history(channel="C1")["messages"] if m["ts"] == stamps[0])
    assert parent["reply_count"] == 1 and parent["thread_ts"] == stamps[0]


def test_replies_parent_first_with_pagination(slack_api: SlackServer, client: WebClient) -> None:
    parent = slack_api.post("C1", "question", user="U1")
    client.chat_postMessage(channel="C1", text="answer 1", thread_ts=parent)
    client.chat_postMessage(channel="C1", text="answer 2", thread_ts=parent, reply_broadcast=True)
    slack_api.post("C1", "thanks", user="U1", thread_ts=parent)

    texts = [m["text"] for m in client.conversations_replies(channel="C1", ts=parent)["messages"]]
    assert texts == ["question", "answer 1", "answer 2", "thanks"]
    assert [m["text"] for m in slack_api.replies("C1", parent)] == texts

    first = client.conversations_replies(channel="C1", ts=parent, limit=3)
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_replies(channel="C1", ts=parent, limit=3, cursor=cursor)
    assert first["has_more"] and not rest["has_more"]
    assert [m["text"] for m in first["messages"] + rest["messages"]] == texts
    assert [m["text"] for m in slack_api.messages("C1")] == ["question", "answer 2"]  # broadcast shows in channel

    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel="C1", ts="1.000001")


def test_replies_to_an_unseen_parent_form_a_thread(slack_api: SlackServer, client: WebClient) -> None:
    unseen = "1726133700.887259"  # e.g. the ts of an event delivered straight to the bot
    client.chat_postMessage(channel="C1", text="on it", thread_ts=unseen)
    assert [m["text"] for m in slack_api.replies("C1", unseen)] == ["on it"]
    assert [m["text"] for m in client.conversations_replies(channel="C1", ts=unseen)["messages"]] == ["on it"]
    assert slack_api.messages("C1") == []


def test_users_conversations_and_auth(slack_api: SlackServer, client: WebClient) -> None:
    assert client.users_info(user="U1")["user"]["real_name"] == "Alice A"
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T111")
    assert client.conversations_info(channel="C1")["channel"]["name"] == "general"
    names = {c["name"] for c in client.conversations_list()["channels"]}
    assert names == {"general", "random"}
    assert [c["id"] for c in client.conversations_list(types="im")["channels"]] == ["D1"]
    assert "UBOT" in client.conversations_members(channel="C1")["members"]
    assert {"UBOT", "U1"} <= {u["id"] for u in client.users_list()["members"]}


def test_form_encoded_json_params_are_decoded(slack_api: SlackServer, client: WebClient) -> None:
    blocks = [{"type": "divider"}]
    form = {"channel": "C1", "text": "[1] x", "blocks": json.dumps(blocks)}
    posted = client.api_call("chat.postMessage", params=form)
    stored = slack_api.message("C1", posted["ts"])
    assert stored is not None and stored["blocks"] == blocks and stored["text"] == "[1] x"


def test_ephemeral_views_and_response_urls(slack_api: SlackServer, client: WebClient) -> None:
    assert client.chat_postEphemeral(channel="C1", user="U1", text="only you")["message_ts"]
    assert slack_api.ephemerals[0]["user"] == "U1" and slack_api.ephemerals[0]["text"] == "only you"

    view = {"type": "home", "blocks": [{"type": "divider"}]}
    assert client.views_publish(user_id="U1", view=view)["view"]["type"] == "home"
    assert slack_api.views["U1"] == view

    url = slack_api.response_url("cmd")
    threading.Thread(target=post_json, args=(url, {"text": "done", "response_type": "ephemeral"})).start()
    expected = [{"text": "done", "response_type": "ephemeral", "name": "cmd"}]
    assert slack_api.wait_for(lambda: slack_api.responses) == expected


def test_chat_streaming_with_sdk_helper(slack_api: SlackServer, client: WebClient) -> None:
    parent = slack_api.post("D1", "tell me a story")
    stream = client.chat_stream(channel="D1", thread_ts=parent, buffer_size=5)
    stream.append(markdown_text="Once upon ")
    stream.append(markdown_text="a time.")
    stream.stop(markdown_text=" The end.")

    reply = slack_api.replies("D1", parent)[1]
    assert reply["text"] == "Once upon a time. The end." and reply["bot_id"] == "BBOT"
    assert slack_api.edits("D1", reply["ts"])[-1] == reply["text"]
    assert slack_api.stream_state("D1", reply["ts"]) == "stopped"
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        client.chat_appendStream(channel="D1", ts=reply["ts"], markdown_text="more")


def test_stream_argument_checks_and_expiry(slack_api: SlackServer, client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.api_call("chat.startStream", json={"channel": "C1"})
    parent = slack_api.post("C1", "question", user="U1")
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.chat_startStream(channel="C1", thread_ts=parent)
    ts = client.chat_startStream(
        channel="C1", thread_ts=parent, recipient_team_id="T111", recipient_user_id="U1", markdown_text="Hi"
    )["ts"]
    client.chat_appendStream(channel="C1", ts=ts, markdown_text=" there")
    slack_api.expire_stream("C1", ts)
    for call in (client.chat_appendStream, client.chat_stopStream):
        with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
            call(channel="C1", ts=ts, markdown_text="!")
    assert slack_api.edits("C1", ts) == ["Hi", "Hi there"]


# -- Slack: faults ---------------------------------------------------------------------


def test_injected_429_is_visible_without_retry_handler(slack_api: SlackServer, client: WebClient) -> None:
    slack_api.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")
    response = raised.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "7"
    assert slack_api.ratelimited_count == 1 and slack_api.messages("C1") == []
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


def test_injected_429_is_retried_by_rate_limit_handler(slack_api: SlackServer, client: WebClient) -> None:
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack_api.rate_limit("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert [c.status for c in slack_api.calls_to("chat.postMessage")] == [429, 200]
    assert len(slack_api.messages("C1")) == 1


def test_sliding_window_rate_limit(slack_api: SlackServer, client: WebClient) -> None:
    slack_api.set_rate_limit("chat.postMessage", per_minute=2)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="3")
    assert raised.value.response.status_code == 429
    assert 1 <= int(raised.value.response.headers["Retry-After"]) <= 60
    assert client.conversations_history(channel="C1")["ok"]  # other methods are unaffected


def test_fail_and_fail_http(slack_api: SlackServer, client: WebClient) -> None:
    slack_api.fail("chat.update", "cant_update_message", times=2)
    slack_api.fail_http("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 503
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    for _ in range(2):
        with pytest.raises(SlackApiError, match="cant_update_message"):
            client.chat_update(channel="C1", ts=ts, text="y")
    assert client.chat_update(channel="C1", ts=ts, text="y")["ok"]


def test_token_is_checked_when_configured() -> None:
    with SlackServer(token="xoxb-right") as slack_api:
        assert WebClient(base_url=slack_api.api_url, token="xoxb-right").auth_test()["ok"]
        with pytest.raises(SlackApiError, match="invalid_auth"):
            WebClient(base_url=slack_api.api_url, token="xoxb-wrong").auth_test()


def test_handler_exception_becomes_500_and_server_survives(
    slack_api: SlackServer, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(params: dict) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setitem(slack_api._methods, "auth.test", broken)
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    assert raised.value.response.status_code == 500 and raised.value.response["error"] == "internal_error"
    assert client.users_info(user="U1")["ok"]


def test_reset_keeps_users_and_channels(slack_api: SlackServer, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    slack_api.fail("auth.test", "account_inactive")
    slack_api.reset()
    assert slack_api.messages("C1") == [] and slack_api.calls == []
    assert client.auth_test()["ok"] and client.users_info(user="U1")["ok"]


def test_many_concurrent_posts(slack_api: SlackServer) -> None:
    def post(i: int) -> str:
        return WebClient(base_url=slack_api.api_url, token="t").chat_postMessage(channel="C1", text=str(i))["ts"]

    with ThreadPoolExecutor(max_workers=64) as pool:
        stamps = list(pool.map(post, range(300)))
    assert len(set(stamps)) == 300 and len(slack_api.messages("C1")) == 300


def test_keep_alive_connections_are_reused(slack_api: SlackServer) -> None:
    client_addresses = set()
    with httpx.Client(base_url=slack_api.api_url) as http:
        for _ in range(20):
            response = http.post("auth.test")
            assert response.json()["ok"]
            client_addresses.add(response.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(client_addresses) == 1 and len(slack_api.calls_to("auth.test")) == 20


# -- model server ----------------------------------------------------------------------


def test_plain_completion_with_usage(model_api: ModelServer, llm: OpenAI) -> None:
    completion = llm.chat.completions.create(model="m", messages=USER_MESSAGE)
    text = "Summary: please summarise the quarterly report for the team"
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    prompt = count_tokens(USER_MESSAGE[0]["content"]) + 3
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, count_tokens(text))
    assert model_api.calls_to("/chat/completions")[0].text == text


def test_streamed_completion_joins_to_text_and_reports_usage(model_api: ModelServer, llm: OpenAI) -> None:
    text = "  Hello  there,\nthis is a   streamed answer with several words.  "
    model_api.enqueue(Reply(text=text))
    chunks = list(
        llm.chat.completions.create(
            model="m", messages=USER_MESSAGE, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(deltas) == text and len([d for d in deltas if d]) > 2
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == count_tokens(text)
    assert split_chunks(text) == [d for d in deltas if d]


def test_scripted_tool_call_plain_and_streamed(model_api: ModelServer, llm: OpenAI) -> None:
    call = {"name": "search_docs", "arguments": {"query": "vacation policy", "limit": 3}}
    model_api.enqueue(Reply(tool_calls=[call]), Reply(tool_calls=[call]))

    message = llm.chat.completions.create(model="m", messages=USER_MESSAGE).choices[0]
    assert message.finish_reason == "tool_calls"
    tool_call = message.message.tool_calls[0]
    assert tool_call.type == "function" and tool_call.function.name == "search_docs"
    assert json.loads(tool_call.function.arguments) == call["arguments"]

    names, arguments, finish = "", "", None
    for chunk in llm.chat.completions.create(model="m", messages=USER_MESSAGE, stream=True):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            assert delta.index == 0
            names += delta.function.name or ""
            arguments += delta.function.arguments or ""
    assert (names, json.loads(arguments), finish) == ("search_docs", call["arguments"], "tool_calls")


def test_embeddings_are_deterministic_and_similar_for_shared_words(model_api: ModelServer, llm: OpenAI) -> None:
    texts = ["vacation policy for staff", "staff vacation policy", "quarterly revenue numbers"]
    result = llm.embeddings.create(model="e", input=texts)
    vectors = [item.embedding for item in result.data]
    assert len(vectors[0]) == 64 and result.usage.prompt_tokens == sum(count_tokens(t) for t in texts)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert vectors[0] == pytest.approx(embed(texts[0]), abs=1e-6)
    floats = llm.embeddings.create(model="e", input="hi", dimensions=8, encoding_format="float")
    assert len(floats.data[0].embedding) == 8
    assert [m.id for m in llm.models.list()]


def test_injected_500_raises_internal_server_error(model_api: ModelServer, llm: OpenAI) -> None:
    model_api.fail(500, message="model exploded")
    with pytest.raises(openai.InternalServerError, match="model exploded"):
        llm.chat.completions.create(model="m", messages=USER_MESSAGE)
    assert llm.chat.completions.create(model="m", messages=USER_MESSAGE).choices[0].message.content


def test_429_with_retry_after(model_api: ModelServer, llm: OpenAI) -> None:
    model_api.fail(429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as raised:
        llm.chat.completions.create(model="m", messages=USER_MESSAGE)
    assert raised.value.response.headers["retry-after"] == "2"

    model_api.fail(429, retry_after=0.01)
    retrying = OpenAI(base_url=model_api.base_url, api_key="k", max_retries=1)
    assert retrying.chat.completions.create(model="m", messages=USER_MESSAGE).choices[0].message.content
    assert [c.status for c in model_api.calls_to("/chat/completions")] == [429, 429, 200]


def test_stream_cut_midway_raises_in_client(model_api: ModelServer, llm: OpenAI) -> None:
    model_api.enqueue(Reply(text="one two three four five six seven eight nine ten", cut_after_chunks=1))
    received = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for chunk in llm.chat.completions.create(model="m", messages=USER_MESSAGE, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "one two three "
    assert model_api.wait_for(lambda: model_api.in_flight == 0 and model_api.requests)


def test_malformed_stream_raises_in_client(model_api: ModelServer, llm: OpenAI) -> None:
    model_api.enqueue(Reply(text="hello", malformed=True))
    with pytest.raises(ValueError):
        list(llm.chat.completions.create(model="m", messages=USER_MESSAGE, stream=True))


def test_latency_and_max_tokens(model_api: ModelServer, llm: OpenAI) -> None:
    model_api.latency = 0.2
    started = time.monotonic()
    completion = llm.chat.completions.create(model="m", messages=USER_MESSAGE, max_tokens=2)
    assert time.monotonic() - started >= 0.2
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Summary:"
    assert completion.usage is not None and completion.usage.completion_tokens == 2


def test_in_flight_tracking_under_concurrency(model_api: ModelServer) -> None:
    release = threading.Event()

    def held_responder(request: dict) -> str:
        release.wait(10)
        return "done"

    model_api.responder = held_responder
    llm = OpenAI(base_url=model_api.base_url, api_key="k", max_retries=0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(llm.chat.completions.create, model="m", messages=USER_MESSAGE) for _ in range(8)]
        model_api.wait_for(lambda: model_api.in_flight == 8)
        release.set()
        assert {f.result().choices[0].message.content for f in futures} == {"done"}
    assert model_api.max_in_flight == 8 and model_api.in_flight == 0


def test_api_key_and_handler_errors(model_api: ModelServer) -> None:
    with ModelServer(api_key="secret") as guarded:
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=guarded.base_url, api_key="wrong", max_retries=0).models.list()
        assert OpenAI(base_url=guarded.base_url, api_key="secret", max_retries=0).models.list().data

    def broken(request: dict) -> str:
        raise RuntimeError("responder bug")

    model_api.responder = broken
    llm = OpenAI(base_url=model_api.base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.InternalServerError, match="responder bug"):
        llm.chat.completions.create(model="m", messages=USER_MESSAGE)
    model_api.enqueue("still alive")
    assert llm.chat.completions.create(model="m", messages=USER_MESSAGE).choices[0].message.content == "still alive"
