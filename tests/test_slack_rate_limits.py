"""The local Slack's rate limits counted per workspace and per channel, as Slack counts its tiers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from doubles.slack import SlackServer


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        for team, channels in (("TA", ("CA1", "CA2")), ("TB", ("CB1",))):
            for channel in channels:
                server.add_channel(channel, channel.lower())
            server.assign_workspace(team, *channels)
        server.add_user("WA", "ann")
        server.assign_workspace("TA", "WA")
        yield server


@pytest.fixture
def client(slack: SlackServer) -> WebClient:
    return WebClient(base_url=slack.api_url, token="xoxb-test")


def status(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except SlackApiError as error:
        assert error.response["error"] == "ratelimited" and int(error.response.headers["Retry-After"]) >= 1
        return int(error.response.status_code)
    return 200


def test_a_workspace_limit_counts_each_team_apart(slack: SlackServer, client: WebClient) -> None:
    slack.set_rate_limit("conversations.info", 2, per="workspace")
    calls = [lambda c=c: client.conversations_info(channel=c) for c in ("CA1", "CA2", "CA1", "CB1", "CB1")]
    assert [status(call) for call in calls] == [200, 200, 429, 200, 200]
    assert status(lambda: client.users_info(user="WA")) == 200  # another method has no limit
    assert slack.ratelimited_by_scope() == {("conversations.info", "TA"): 1}
    assert slack.ratelimited_count == 1


def test_a_user_parameter_counts_against_the_user_s_workspace(slack: SlackServer, client: WebClient) -> None:
    slack.set_rate_limit("users.info", 1, per="workspace")
    assert status(lambda: client.users_info(user="WA")) == 200
    assert status(lambda: client.users_info(user="WA")) == 429
    assert status(lambda: client.users_info(user="UBOT")) == 200  # unassigned: the server's own team


def test_a_channel_limit_counts_each_channel_apart(slack: SlackServer, client: WebClient) -> None:
    slack.set_rate_limit("chat.postMessage", 1, per="channel")
    posts = [lambda c=c: client.chat_postMessage(channel=c, text="hi") for c in ("CA1", "CA2", "CA1")]
    assert [status(post) for post in posts] == [200, 200, 429]
    assert [m["text"] for m in slack.messages("CA1")] == ["hi"]


def test_removing_a_limit_and_reset_lift_it(slack: SlackServer, client: WebClient) -> None:
    slack.set_rate_limit("conversations.info", 1, per="workspace")
    assert status(lambda: client.conversations_info(channel="CA1")) == 200
    slack.set_rate_limit("conversations.info", None)
    assert status(lambda: client.conversations_info(channel="CA1")) == 200
    slack.set_rate_limit("conversations.info", 1, per="workspace")
    status(lambda: client.conversations_info(channel="CA1"))
    assert status(lambda: client.conversations_info(channel="CA1")) == 429
    slack.reset()
    assert status(lambda: client.conversations_info(channel="CA1")) == 200
    assert slack.ratelimited_count == 0 and slack.ratelimited_by_scope() == {}
