"""Malformed and hostile Slack requests: each answered correctly, none crashes a worker, none reaches the model."""

from __future__ import annotations

import string
import time

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doubles.bot_process import READY_LINE, BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import sign
from tests.conftest import SIGNING_SECRET
from tests.hostile_payloads import Hostile, corpus


def send(bot: BotProcess, item: Hostile, client: httpx.Client) -> int:
    timestamp = str(int(time.time()) + item.timestamp_offset)
    headers = {
        "Content-Type": item.content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": item.signature
        if item.signature is not None
        else sign(SIGNING_SECRET, timestamp, item.body),
        **item.headers,
    }
    if not item.content_type:
        headers.pop("Content-Type")
    return client.post(bot.url, content=item.body, headers=headers).status_code


def test_a_corpus_of_over_200_hostile_requests(slack: SlackServer, model: ModelServer, bot: BotProcess) -> None:
    items = corpus()
    assert len(items) >= 200
    workers_before = bot.output.count(READY_LINE)
    wrong = []
    reached: list[str] = []
    with httpx.Client(timeout=30) as client:
        for item in items:
            status = send(bot, item, client)
            ok = {"4xx": 400 <= status < 500, "ignored": status == 200, "any": status < 500}[item.expected]
            if not ok:
                wrong.append((item.name, status))
            if model.calls_to("/chat/completions") and not reached:
                reached.append(item.name)
        assert wrong == [], repr(wrong)
        assert client.get(bot.base_url + "/healthz").status_code == 200
    assert reached == [] and model.calls_to("/chat/completions") == []  # nothing hostile reached the model
    assert bot.output.count(READY_LINE) == workers_before  # no worker died and was replaced
    assert "Traceback" not in bot.output.split("\n", 1)[-1] or "Worker exiting" not in bot.output


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=2_000).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=50),
            lambda inner: (
                st.lists(inner, max_size=5)
                | st.dictionaries(st.text(string.ascii_letters, max_size=10), inner, max_size=5)
            ),
            max_leaves=30,
        ).map(lambda v: __import__("json").dumps(v).encode()),
    ),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
    signed=st.booleans(),
)
def test_fuzzed_request_bodies_never_crash_the_parser(
    slack: SlackServer, model: ModelServer, bot: BotProcess, body: bytes, content_type: str, signed: bool
) -> None:
    item = Hostile("fuzz", body, content_type, signature=None if signed else "v0=" + "0" * 64)
    with httpx.Client(timeout=30) as client:
        status = send(bot, item, client)
    assert status < 500
    assert model.calls_to("/chat/completions") == []
