"""Budgets cover everything that spends: routing's docs search, `/digest` and its schedules (estimated before they
are queued, capped, and shown with their actual cost), and they fail closed for large requests in a database outage."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.tcp_proxy import TcpProxy
from doubles.worker_process import WorkerProcess
from tests import test_digest
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows
from tests.rag_support import FIXTURE_DOCS, cli_env, ingest
from tests.test_digest import ack_text, job_ids, wait_final
from tests.test_summarize import MEETING_NOTES

# The digest bot and its workers, as in test_digest.py.
env, digest_bot, workers, sender = test_digest.env, test_digest.digest_bot, test_digest.workers, test_digest.sender
recent_clock = test_digest.recent_clock


def limit(slack: SlackServer, client: SlackSender, text: str, name: str) -> None:
    client.slash_command("/usage", text, user="WADMIN", response_url=slack.response_url(name))
    reply = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == name])[0]
    assert reply["text"].startswith(("Limit set.", "Limit removed.")), reply["text"]


@pytest.fixture(scope="module")
def docs_bot(
    tmp_path_factory: pytest.TempPathFactory, slack: SlackServer, model: ModelServer, postgres_url: str
) -> Iterator[BotProcess]:
    index = tmp_path_factory.mktemp("spending") / "index"
    ingest(cli_env(index, model_url=model.base_url), FIXTURE_DOCS)  # embedded by the model server
    with BotProcess(bot_env(slack, model, postgres_url, DOCS_INDEX_DIR=str(index))) as bot:
        yield bot


def test_a_refused_request_is_not_embedded_for_routing_either(
    slack: SlackServer, model: ModelServer, docs_bot: BotProcess
) -> None:
    client = SlackSender(docs_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    try:
        client.mention("refund policy for card payments", user="W111", ts="1730000900.000100")
        slack.wait_for(lambda: [m for m in slack.replies("C111", "1730000900.000100") if m.get("bot_id")])
        assert model.calls_to("/embeddings")  # routing searches the docs for a statement: an embedding call

        limit(slack, client, "limit user <@W333|carol> daily 0 requests", "set")
        model.reset()
        client.mention("refund policy for bank transfers", user="W333", ts="1730000900.000200")  # not cached
        refusal = slack.wait_for(lambda: [m for m in slack.replies("C111", "1730000900.000200") if m.get("bot_id")])
        assert refusal[0]["text"].startswith("Sorry, your daily request limit")
        assert model.calls == []  # neither the embedding nor the answer
    finally:
        limit(slack, client, "limit user W333 daily off", "off")
        client.close()


def test_a_digest_shows_its_estimate_then_its_actual_cost(
    slack: SlackServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    for n in range(30):
        slack.post("C111", f"Update {n}: the migration of the billing service is on track for Thursday.", user="W222")
    [job_id] = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))
    queued = slack.wait_for(lambda: [c for c in slack.calls_to("chat.postMessage") if job_id in c.params["text"]])
    estimated = re.search(r"· about 30 messages, estimated \$(\d+\.\d{4})$", queued[0].params["text"])
    assert estimated, queued[0].params["text"]
    digest = wait_final(slack, "C111", job_id)
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id))[0]
    line = f"_Estimated ${estimated.group(1)} before it ran · cost ${row['cost_usd']:,.4f}_"
    assert digest["text"].endswith(line) and row["cost_usd"] > 0
    assert digest["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    assert float(estimated.group(1)) >= row["cost_usd"] / 3  # the estimate is of the right size


def test_digests_are_refused_past_a_budget_and_capped_in_channels_and_days(
    slack: SlackServer, sender: SlackSender, postgres_url: str
) -> None:
    slack.post("C111", "The billing migration is on track.", user="W222")
    limit(slack, sender, "limit user <@W333|carol> daily 0 requests", "set-digest")
    try:
        sender.slash_command("/digest", "", user="W333", response_url=slack.response_url("refused"))
        reply = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "refused"])[0]
        assert "was not queued: Sorry, your daily request limit for the AI bot has been reached" in reply["text"]
        assert slack.calls_to("chat.postMessage") == []  # nothing queued
    finally:
        limit(slack, sender, "limit user W333 daily off", "off-digest")
    six = " ".join(["#general", "#quiet", "#a", "#b", "#c", "#d"])
    assert ack_text(sender.slash_command("/digest", six, user="W111")) == (
        "One `/digest` covers at most 5 channels; split them up."
    )
    assert ack_text(sender.slash_command("/digest", "since 120d", user="W111")) == (
        "'120d' reaches back too far for a digest here. The longest window is 90 days."
    )


@pytest.fixture(scope="module")
def database_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    proxy.stop()


@pytest.fixture(scope="module")
def outage_bot(slack: SlackServer, model: ModelServer, database_proxy: tuple[TcpProxy, str]) -> Iterator[BotProcess]:
    extra = {"BUDGET_OUTAGE_MAX_COST_USD": "0.002", "DIGEST_MAX_COST_USD": "0.0001"}
    with BotProcess(bot_env(slack, model, database_proxy[1], **test_digest.DIGEST_SETTINGS, **extra)) as bot:
        yield bot


def test_a_digest_estimated_over_its_cap_is_not_queued(slack: SlackServer, outage_bot: BotProcess) -> None:
    for n in range(30):
        slack.post("C111", f"Update {n}: the migration of the billing service is on track for Thursday.", user="W222")
    client = SlackSender(outage_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    try:
        client.slash_command("/digest", "", user="W111", response_url=slack.response_url("capped"))
        reply = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "capped"])[0]
    finally:
        client.close()
    assert re.search(
        r"was not queued: This digest would read about 30 messages, estimated \$\d+\.\d{4}, over the limit of "
        r"\$0\.00 for one digest\. Try a shorter window\.$",
        reply["text"],
    ), reply["text"]
    assert slack.calls_to("chat.postMessage") == []


def test_without_the_database_large_requests_are_refused_and_small_ones_answered(
    slack: SlackServer, model: ModelServer, outage_bot: BotProcess, database_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, _ = database_proxy
    client = SlackSender(outage_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    proxy.cut()
    try:
        client.slash_command("/summarize", MEETING_NOTES * 8, user="W111", response_url=slack.response_url("big"))
        reply = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "big"], timeout=60)[0]
        assert reply["text"].startswith("I can't check the spending limits right now")
        assert "(about $0.00" in reply["text"]
        assert slack.calls_to("chat.postMessage") == [] and model.calls_to("/chat/completions") == []
        outage_bot.wait_for_output(lambda out: "refusing a request estimated at $" in out)

        client.slash_command("/summarize", MEETING_NOTES, user="W111")
        slack.wait_for(
            lambda: [c for c in slack.calls_to("chat.update") if "Summary for" in c.params.get("text", "")], timeout=60
        )
        assert "allowing a request estimated at $" in outage_bot.output
    finally:
        proxy.restore()
        client.close()


def test_a_scheduled_digest_past_its_owners_budget_is_skipped_and_the_owner_told(
    slack: SlackServer, workers: WorkerProcess, sender: SlackSender, postgres_url: str
) -> None:
    text = test_digest.followed_up(slack, sender, "daily #quiet 09:00", name="budget-schedule")
    schedule_id = re.search(r"Schedule id `(\d+)`", text).group(1)  # type: ignore[union-attr]
    slack.post("C222", "The billing migration is on track.", user="W222")
    limit(slack, sender, "limit user <@W111|alice> daily 0 requests", "set-schedule")
    try:
        test_digest._make_due(postgres_url, schedule_id)
        told = slack.wait_for(
            lambda: [c for c in slack.calls_to("chat.postMessage") if "I skipped this run" in c.params["text"]],
            timeout=60,
        )
        assert told[0].params["text"] == (
            f"I skipped this run of your daily at 09:00 (UTC) digest of <#C222> (schedule `{schedule_id}`): Sorry, "
            "your daily request limit for the AI bot has been reached, so I can't take this request. It resets at "
            "midnight UTC. An admin can raise it with `/usage limit`."
        )
        assert not [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C222"]  # not queued
    finally:
        limit(slack, sender, "limit user W111 daily off", "off-schedule")
        sender.slash_command("/digest", f"unschedule {schedule_id}", user="W111")
