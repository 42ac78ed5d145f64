"""Who may read what, over real HTTP, for both docs stores: a document limited to #hr answers in #hr and its threads
and in DMs of #hr's members, and nowhere else reaches the model, the answer, the citations, the closest passages or
the agent's `search_docs`; under OAuth installs a document belongs to one workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply, content_text
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, bot_env
from tests.pgvector_support import pgvector_fixture, store_env  # noqa: F401  (the `pgvector` fixture)
from tests.rag_support import FIXTURE_DOCS, cli_env, ingest, run_app
from tests.test_oauth import install
from tests.test_streaming import final_reply

pytestmark = pytest.mark.timeout(300)

HR = "C0HR0001"
RESTRICTED = Path(__file__).resolve().parent / "fixtures" / "restricted"
SECRET = "95,000 to 120,000 euros"  # only in the #hr document
SECRETS = (SECRET, "relocation costs", "compensation committee", "Salary bands")  # any trace of it
SALARY = "What is the salary band for L5 engineers?"
BOTH = "What is the refund window?"  # the workspace-wide refund policy and the #hr document both answer


def add_hr(slack: SlackServer) -> None:
    slack.add_channel(HR, "hr", members=["W111"])  # alice is in #hr, bob is not
    slack.add_channel("D0ALICE01", "", is_im=True, user="W111")
    slack.add_channel("D0BOB0001", "", is_im=True, user="W222")


@pytest.fixture(scope="module", params=["local", "postgres"])
def docs_env(
    request: pytest.FixtureRequest, slack: SlackServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The fixture corpus for everyone, and the salaries document limited to #hr (named, as an operator would)."""
    server = request.getfixturevalue("pgvector") if request.param == "postgres" else None
    root = tmp_path_factory.mktemp(f"access-{request.param}")
    env = {**store_env(request.param, root / "index", server), "DOCS_EMBEDDING": "lexical"}
    add_hr(slack)
    ingest(cli_env(root / "index", **env), FIXTURE_DOCS)
    limited = ingest(
        cli_env(root / "index", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url, **env),
        RESTRICTED,
        "--channel",
        "#hr",
    )
    assert limited["added"] == [str(RESTRICTED / "salaries.md")] and limited["visibility"] == "limited to #hr"
    return env


@pytest.fixture(scope="module")
def access_bot(
    slack: SlackServer, model: ModelServer, postgres_url: str, docs_env: dict[str, str]
) -> Iterator[BotProcess]:
    with BotProcess(bot_env(slack, model, postgres_url, **docs_env)) as bot:
        yield bot


@pytest.fixture
def asker(access_bot: BotProcess, slack: SlackServer, model: ModelServer, fresh_servers: None) -> Iterator[SlackSender]:
    add_hr(slack)
    model.responder = echo_passages
    client = SlackSender(access_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


def echo_passages(body: dict) -> Reply:
    """A model that repeats every passage it was given: whatever reaches it shows in the answer."""
    user = content_text(body["messages"][-1]["content"])
    return Reply(text="From the documents: " + " ".join(user.split()) + " [1]")


def everything_sent(slack: SlackServer, model: ModelServer) -> str:
    """All text the bot posted to Slack and sent to the model."""
    posted = [call.params for call in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")]
    return json.dumps(posted) + json.dumps([call.body for call in model.requests])


def test_a_limited_document_answers_in_its_channel_and_in_the_channels_threads(
    slack: SlackServer, model: ModelServer, asker: SlackSender
) -> None:
    asker.mention(SALARY, channel=HR, ts="1740000000.000100")
    (reply,) = final_reply(slack, HR, "1740000000.000100")
    assert SECRET in reply["text"] and "Salary bands — Engineering levels" in reply["text"]  # answer and citation

    asker.message(
        "And when are the salary bands reviewed?", channel=HR, ts="1740000000.000200", thread_ts="1740000000.000100"
    )
    first, follow_up = final_reply(slack, HR, "1740000000.000100", count=2)
    assert "compensation committee" in follow_up["text"]
    assert "compensation committee" in content_text(
        model.calls_to("/chat/completions")[-1].body["messages"][-1]["content"]
    )


def test_elsewhere_a_limited_passage_never_reaches_the_model_the_answer_citations_or_closest_passages(
    slack: SlackServer, model: ModelServer, asker: SlackSender
) -> None:
    asker.mention(BOTH, channel=HR, ts="1740000000.000300")  # where it may be read, it ranks among the passages
    (allowed,) = final_reply(slack, HR, "1740000000.000300")
    assert "relocation costs" in allowed["text"] and "30 days" in allowed["text"]
    model.reset()
    model.responder = echo_passages
    slack.reset()

    asker.mention(SALARY, channel="C111", ts="1740000000.000400")
    (elsewhere,) = final_reply(slack, "C111", "1740000000.000400")
    assert SECRET not in elsewhere["text"] and "Salary" not in elsewhere["text"]  # declined, or answered from others
    asker.mention(BOTH, channel="C111", ts="1740000000.000500")
    (partial,) = final_reply(slack, "C111", "1740000000.000500")
    assert "30 days" in partial["text"]  # the workspace-wide passage is used
    asker.message(SALARY, channel="C111", ts="1740000000.000600", thread_ts="1740000000.000500")
    final_reply(slack, "C111", "1740000000.000500", count=2)

    assert model.calls_to("/chat/completions")  # the model was asked, and never saw the limited passage
    sent = everything_sent(slack, model)
    assert not [secret for secret in SECRETS if secret in sent]


def test_in_dms_only_members_of_the_channel_read_a_limited_document(
    slack: SlackServer, model: ModelServer, asker: SlackSender
) -> None:
    asker.message(SALARY, user="W111", channel="D0ALICE01", channel_type="im", ts="1740000000.000700")
    (alice,) = final_reply(slack, "D0ALICE01", "1740000000.000700")
    assert SECRET in alice["text"]
    asked = {call.params.get("channel") for call in slack.calls_to("conversations.members")}
    assert asked == {HR}  # membership came from Slack

    slack.reset()
    model.reset()
    model.responder = echo_passages
    asker.message(SALARY, user="W222", channel="D0BOB0001", channel_type="im", ts="1740000000.000800")
    (bob,) = final_reply(slack, "D0BOB0001", "1740000000.000800")
    assert SECRET not in bob["text"] and "Salary" not in bob["text"]
    assert not [secret for secret in SECRETS if secret in everything_sent(slack, model)]


def test_the_agents_search_docs_reads_only_what_the_channel_may(
    slack: SlackServer, model: ModelServer, asker: SlackSender
) -> None:
    search = Reply(tool_calls=[{"name": "search_docs", "arguments": {"query": "salary band L5 engineers"}}])
    model.enqueue(search, Reply(text="Done."))
    asker.mention("agent: find the L5 salary band", channel="C111", ts="1740000000.000900")
    final_reply(slack, "C111", "1740000000.000900")
    tool = [m for m in model.calls_to("/chat/completions")[1].body["messages"] if m["role"] == "tool"]
    assert not [p for p in json.loads(tool[0]["content"])["passages"] if "salar" in json.dumps(p).lower()]
    assert not [secret for secret in SECRETS if secret in everything_sent(slack, model)]

    model.reset()
    model.enqueue(search, Reply(text="Done."))
    asker.mention("agent: find the L5 salary band", channel=HR, ts="1740000000.001000")
    final_reply(slack, HR, "1740000000.001000")
    tool = [m for m in model.calls_to("/chat/completions")[1].body["messages"] if m["role"] == "tool"]
    assert any(SECRET in p["text"] for p in json.loads(tool[0]["content"])["passages"])


@pytest.fixture(scope="module")
def oauth_docs(
    request: pytest.FixtureRequest,
    docs_env: dict[str, str],
    slack: SlackServer,
    model: ModelServer,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    """An OAuth deployment: the fixture corpus belongs to T111, the salaries document to T222."""
    server = request.getfixturevalue("pgvector") if docs_env["DOCS_STORE"] == "postgres" else None
    root = tmp_path_factory.mktemp("oauth-docs")
    oauth = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_CLIENT_ID": "111.333",
        "SLACK_CLIENT_SECRET": "oauth-docs-secret-19",
        "SLACK_OAUTH_AUTHORIZE_URL": slack.api_url.replace("/api/", "/oauth/v2/authorize"),
    }
    env = {**store_env(docs_env["DOCS_STORE"], root / "index", server), "DOCS_EMBEDDING": "lexical", **oauth}
    missing = ingest_failure(cli_env(root / "index", **env), FIXTURE_DOCS)
    assert "belongs to one workspace: give it with --team" in missing
    ingest(cli_env(root / "index", **env), FIXTURE_DOCS, "--team", "T111")
    ingest(cli_env(root / "index", **env), RESTRICTED, "--team", "T222")
    with BotProcess(bot_env(slack, model, postgres_url, **env)) as bot:
        install(bot, slack, "T111", "Alpha")
        install(bot, slack, "T222", "Beta")
        yield bot


def ingest_failure(env: dict[str, str], *paths: Path) -> str:
    done = run_app(env, "ingest", *map(str, paths))
    assert done.returncode == 2
    return done.stderr


def test_under_oauth_installs_a_document_belongs_to_one_workspace(
    slack: SlackServer, model: ModelServer, oauth_docs: BotProcess, fresh_servers: None
) -> None:
    model.responder = echo_passages
    alpha = SlackSender(oauth_docs.url, SIGNING_SECRET, team_id="T111")
    beta = SlackSender(oauth_docs.url, SIGNING_SECRET, team_id="T222")
    beta.mention(SALARY, ts="1740000000.001100")
    assert SECRET in final_reply(slack, "C111", "1740000000.001100")[0]["text"]
    alpha.mention(SALARY, ts="1740000000.001200")
    assert SECRET not in final_reply(slack, "C111", "1740000000.001200")[0]["text"]
    beta.mention("How long do card refunds take?", ts="1740000000.001300")
    assert "5 business days" not in final_reply(slack, "C111", "1740000000.001300")[0]["text"]
    alpha.mention("How long do card refunds take?", ts="1740000000.001400")
    assert "5 business days" in final_reply(slack, "C111", "1740000000.001400")[0]["text"]
    calls = [json.dumps(call.body) for call in model.calls_to("/chat/completions")]
    assert SECRET in calls[0] and not [call for call in calls if SECRET in call and "5 business days" in call]
    alpha.close()
    beta.close()


def test_visibility_is_kept_when_ingest_runs_again_and_changes_only_when_asked(
    request: pytest.FixtureRequest, docs_env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    server = request.getfixturevalue("pgvector") if docs_env["DOCS_STORE"] == "postgres" else None
    env = cli_env(
        tmp_path / "index",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack.api_url,
        DOCS_EMBEDDING="lexical",
        **store_env(docs_env["DOCS_STORE"], tmp_path / "index", server),
    )
    add_hr(slack)
    unknown = run_app(env, "ingest", str(RESTRICTED), "--channel", "#payroll")
    assert unknown.returncode == 2 and "No channel named #payroll is visible to the bot" in unknown.stderr

    def found_in(channel: str) -> bool:
        done = run_app(env, "ask", "--json", "--channel", channel, SALARY)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])["found"]

    assert ingest(env, RESTRICTED, "--channel", "hr")["added"]
    again = ingest(env, RESTRICTED)  # no flags: an operator re-indexing never widens who may read a file
    assert (again["unchanged"], again["relabelled"], again["visibility"]) == (
        [str(RESTRICTED / "salaries.md")],
        [],
        None,
    )
    assert (found_in(HR), found_in("C111")) == (True, False)
    assert ingest(env, RESTRICTED, "--workspace-wide")["relabelled"] == [str(RESTRICTED / "salaries.md")]
    assert (found_in(HR), found_in("C111")) == (True, True)
