"""Usage and spend in Slack: `/usage`, the App Home tab, and budgets that refuse politely."""

from __future__ import annotations

from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import ledger_rows
from tests.test_summarize import MEETING_NOTES, placeholder_and_final


def usage(slack: SlackServer, sender: SlackSender, text: str, user: str, name: str) -> dict:
    sender.slash_command("/usage", text, user=user, response_url=slack.response_url(name))
    return slack.wait_for(lambda: [r for r in slack.responses if r["name"] == name])[0]


def test_usage_shows_your_own_figures_and_admins_see_the_workspace(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    sender.slash_command("/summarize", MEETING_NOTES, user="W222", channel="C111", trigger_id="usage.1")
    slack.wait_for(lambda: ledger_rows(postgres_url, request_id="usage.1"))

    mine = usage(slack, sender, "", "W222", "u1")
    assert mine["response_type"] == "ephemeral"
    lines = mine["text"].splitlines()
    assert lines[0] == "*Your AI usage*"
    assert lines[1].startswith("Today: ") and not lines[1].startswith("Today: 0 requests")
    assert "Workspace" not in mine["text"]

    admin = usage(slack, sender, "", "WADMIN", "u2")["text"]
    assert "*Workspace, today*" in admin and "*Workspace, 30 days*" in admin
    assert "summarize" in admin and "p95 ms" in admin
    assert "*Top channels by cost (30 days)*: <#C111>" in admin
    assert "*Projected monthly cost*" in admin


def test_app_home_publishes_the_usage_view(slack: SlackServer, sender: SlackSender) -> None:
    for user in ("W222", "WADMIN"):
        sender.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": "1700000000.000001",
            }
        )
    slack.wait_for(lambda: {"W222", "WADMIN"} <= set(slack.views))
    member, admin = slack.views["W222"], slack.views["WADMIN"]
    headers = [b["text"]["text"] for b in member["blocks"] if b["type"] == "header"]
    assert member["type"] == "home" and headers == ["Team AI", "Your AI usage"]  # what it can do, then usage
    assert not any(b.get("text", {}).get("text") == "Workspace" for b in member["blocks"])
    assert any(b.get("text", {}).get("text") == "Workspace" for b in admin["blocks"])


def test_budgets_refuse_politely_warn_before_and_admins_change_them_live(
    slack: SlackServer, model: ModelServer, sender: SlackSender, postgres_url: str
) -> None:
    assert "Only admins" in usage(slack, sender, "limit user W444 daily 1 requests", "W444", "b0")["text"]
    set_reply = usage(slack, sender, "limit user <@W444|dana> daily 1 requests", "WADMIN", "b1")["text"]
    assert set_reply.startswith("Limit set.") and "<@W444>: 1 requests per day" in set_reply
    try:
        sender.slash_command("/summarize", MEETING_NOTES, user="W444", trigger_id="b.first")
        slack.wait_for(lambda: ledger_rows(postgres_url, request_id="b.first"))
        slack.reset()
        model.reset()
        sender.slash_command(
            "/summarize", MEETING_NOTES, user="W444", trigger_id="b.second", response_url=slack.response_url("refusal")
        )
        refusal = slack.wait_for(lambda: [r for r in slack.responses if r["name"] == "refusal"])[0]
        assert refusal["response_type"] == "ephemeral"
        assert refusal["text"].startswith("Sorry, your daily request limit for the AI bot has been reached")
        assert "resets at midnight UTC" in refusal["text"]
        row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id="b.second"))[0]
        assert (row["status"], row["error_kind"]) == ("refused", "budget_user_day_requests")

        sender.mention("hello?", user="W444", ts="1730000000.000100")  # chat is refused in the thread
        refused = slack.wait_for(lambda: [m for m in slack.replies("C111", "1730000000.000100") if m.get("bot_id")])
        assert refused[0]["text"].startswith("Sorry, your daily request limit")
        assert model.calls_to("/chat/completions") == []  # refusals never reach the model
    finally:
        assert usage(slack, sender, "limit user W444 daily off", "WADMIN", "b2")["text"] == "Limit removed."

    slack.add_channel("C555", "budgeted")  # a channel no other test uses, so its count starts at zero
    usage(slack, sender, "limit channel <#C555|budgeted> daily 3 requests warn 50%", "WADMIN", "b3")
    try:
        for i in range(3):  # the third request sees 2 of 3 used: past the 50% warning
            slack.reset()
            sender.slash_command(
                "/summarize", f"{i} {MEETING_NOTES}", user="W111", channel="C555", trigger_id=f"warn.{i}"
            )
            _, texts = placeholder_and_final(slack, "C555")
            slack.wait_for(lambda i=i: ledger_rows(postgres_url, request_id=f"warn.{i}"))
        assert texts[-1].endswith("_Heads-up: This channel has used 67% of the limit of 3 requests per day._")
    finally:
        usage(slack, sender, "limit channel C555 daily off", "WADMIN", "b4")
