"""What the bot and the playground expose: loopback only in the playground, /metrics behind its own port or a token,
no page data for other origins, and answers posted only to Slack's response URLs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psutil
import pytest

from bot.settings import load_settings
from doubles.bot_process import BotProcess, free_port
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from playground.browser import BrowserPlayground
from tests.conftest import BOT_TOKEN, METRICS_TOKEN, REDIS_URL, bot_env

LOOPBACK = {"127.0.0.1", "::1"}


def listening(pids: list[int]) -> set[tuple[str, int]]:
    sockets = set()
    for pid in pids:
        for connection in psutil.Process(pid).net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                sockets.add((connection.laddr.ip, connection.laddr.port))
    return sockets


def process_tree(pid: int) -> list[int]:
    return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserPlayground]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("playground-exposure"), openai_base_url=None, _env_file=None
    )
    with BrowserPlayground(settings, port=0, commands=frozenset({"worker"}), redis_url=REDIS_URL) as started:
        yield started


def test_everything_the_playground_starts_listens_on_loopback_only(playground: BrowserPlayground) -> None:
    assert playground.bot is not None and playground.bot.process is not None
    pids = process_tree(playground.bot.process.pid) + [h.pid for h in playground.helpers] + [psutil.Process().pid]
    sockets = listening(pids)
    assert playground.bot.port in {port for _, port in sockets}  # the bot's own socket is among them
    assert {ip for ip, _ in sockets} <= LOOPBACK, sockets


def test_the_playground_page_data_is_for_its_own_page_only(playground: BrowserPlayground) -> None:
    state = playground.url + "api/state"
    own = playground.url.rstrip("/")
    assert httpx.get(state, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}).status_code == 200
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = httpx.get(state, headers=headers)
        assert refused.status_code == 403 and "conversations" not in refused.text
    answers = [
        httpx.get(playground.url),
        httpx.get(state),
        httpx.post(playground.slack.api_url + "auth.test", data={"token": "xoxb-playground"}),
    ]
    assert all(a.status_code == 200 for a in answers)
    assert [a.headers.get("access-control-allow-origin") for a in answers] == [None, None, None]


def test_metrics_are_served_on_their_own_port_only(slack: SlackServer, model: ModelServer, postgres_url: str) -> None:
    metrics_port = free_port()
    env = bot_env(slack, model, postgres_url, METRICS_PORT=str(metrics_port), METRICS_TOKEN="")
    with BotProcess(env) as bot:
        assert httpx.get(bot.base_url + "/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scraped.status_code == 200 and "bot_queue_depth" in scraped.text
        assert httpx.post(f"http://127.0.0.1:{metrics_port}/slack/events", content=b"{}").status_code == 404


def test_metrics_on_the_slack_port_need_the_bearer_token(bot: BotProcess) -> None:
    assert httpx.get(bot.base_url + "/metrics").status_code == 404
    assert httpx.get(bot.base_url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    scraped = httpx.get(bot.base_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "bot_queue_depth" in scraped.text


def test_answers_go_only_to_slacks_response_urls(slack: SlackServer, sender: SlackSender) -> None:
    with SlackServer(token=BOT_TOKEN) as elsewhere:
        refused = sender.slash_command("/usage", "", user="W111", response_url=elsewhere.response_url("stolen"))
        assert refused.status == 400
        sender.slash_command("/usage", "", user="W111", response_url=slack.response_url("mine"))
        slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "mine"], timeout=30)
        assert elsewhere.responses == []
