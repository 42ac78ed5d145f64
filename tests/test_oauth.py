"""Multi-workspace installs: the OAuth flow against the local Slack server, then per-workspace tokens and usage."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from doubles.bot_process import BotProcess
from doubles.digest_responder import digest_responder
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows
from tests.test_digest import DIGEST_SETTINGS, ack_text, job_ids, wait_final
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


@pytest.fixture(scope="module")
def oauth_env(slack: SlackServer, model: ModelServer, postgres_url: str) -> dict[str, str]:
    """No SLACK_BOT_TOKEN: every Slack call must carry the token of the workspace it acts in."""
    return bot_env(
        slack,
        model,
        postgres_url,
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID="111.222",
        SLACK_CLIENT_SECRET="oauth-client-secret-77",
        SLACK_OAUTH_AUTHORIZE_URL=slack.api_url.replace("/api/", "/oauth/v2/authorize"),
        **{**DIGEST_SETTINGS, "DIGEST_QUEUE": f"digest-oauth-{os.getpid()}"},
    )


@pytest.fixture(scope="module")
def oauth_bot(oauth_env: dict[str, str]) -> Iterator[BotProcess]:
    with BotProcess(oauth_env) as bot:
        yield bot


def start_install(browser: httpx.Client) -> tuple[str, str, dict[str, list[str]]]:
    """Open the install page as a browser would: the state, its cookie and the authorize link's query."""
    page = browser.get("/slack/install")
    assert page.status_code == 200
    link = re.search(r'href="([^"]+/oauth/v2/authorize[^"]+)"', page.text).group(1).replace("&amp;", "&")
    query = parse_qs(urlparse(link).query)
    cookie = page.headers.get("set-cookie", "").split(";")[0]
    return query["state"][0], cookie, query


def install(bot: BotProcess, slack: SlackServer, team_id: str, team_name: str) -> None:
    with httpx.Client(base_url=bot.base_url, timeout=30) as browser:
        state, cookie, _ = start_install(browser)
        code = f"code-for-{team_id}"
        slack.oauth_grant(code, team_id=team_id, team_name=team_name, user_id="W900")
        done = browser.get("/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie})
        assert done.status_code == 200, done.text


def test_install_flow_stores_the_workspace_and_its_requests_use_its_token(
    slack: SlackServer, model: ModelServer, oauth_bot: BotProcess, postgres_url: str
) -> None:
    with httpx.Client(base_url=oauth_bot.base_url, timeout=30) as browser:
        state, cookie, query = start_install(browser)
        assert query["client_id"] == ["111.222"] and "chat:write" in query["scope"][0].split(",")
        assert cookie.startswith("slack-app-oauth-state=")  # (a Secure cookie: sent by hand over plain http)

        slack.oauth_grant("code-for-beta", team_id="T222", team_name="Beta Corp", user_id="W900")
        done = browser.get(
            "/slack/oauth_redirect", params={"code": "code-for-beta", "state": state}, headers={"Cookie": cookie}
        )
        assert done.status_code == 200, done.text
        assert slack.calls_to("oauth.v2.access")[0].response["ok"] is True

        forged = browser.get(
            "/slack/oauth_redirect",
            params={"code": "code-for-beta", "state": "forged"},
            headers={"Cookie": "slack-app-oauth-state=forged"},
        )
        assert forged.status_code >= 400  # a state the bot did not issue is refused

    beta = SlackSender(oauth_bot.url, SIGNING_SECRET, team_id="T222")
    beta.slash_command("/summarize", MEETING_NOTES, trigger_id="oauth.beta.1")
    _, texts = placeholder_and_final(slack)
    assert texts[-1].startswith("*Summary for <@W111>*")  # Slack accepted the token issued to Beta Corp
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="oauth.beta.1"))[0]
    assert row["workspace"] == "T222"

    stranger = SlackSender(oauth_bot.url, SIGNING_SECRET, team_id="T999")
    response = stranger.slash_command(
        "/summarize", MEETING_NOTES, trigger_id="oauth.stranger", response_url=slack.response_url("stranger")
    )
    assert response.status == 200
    told = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "stranger"])[0]
    assert "install" in told["text"].lower()  # not installed in that workspace: the user is told so
    assert ledger_rows(postgres_url, request_id="oauth.stranger") == []


def test_digest_jobs_and_their_progress_use_the_token_of_the_workspace_they_digest(
    slack: SlackServer, model: ModelServer, oauth_env: dict[str, str], oauth_bot: BotProcess, postgres_url: str
) -> None:
    install(oauth_bot, slack, "T333", "Gamma Inc")
    slack.set_clock(time.time() - 3_600)
    slack.post("C111", "We decided to move the Gamma launch to Friday.", user="W222")
    model.responder = digest_responder
    workers = WorkerProcess(oauth_env, processes=1).start()
    try:
        gamma = SlackSender(oauth_bot.url, SIGNING_SECRET, team_id="T333")
        [job_id] = job_ids(ack_text(gamma.slash_command("/digest", "", user="W111", channel="C111")))
        message = wait_final(slack, "C111", job_id)  # read, edited and posted with Gamma's token (no other exists)
        assert "move the Gamma launch to Friday" in message["text"]
        row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
        assert (row["workspace"], row["status"]) == ("T333", "ok")
    finally:
        workers.stop()
