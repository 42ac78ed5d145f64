"""Shared fixtures: the local Slack and model servers, real Redis and PostgreSQL, and bot processes.

The bot runs as real `python app.py serve` processes (gunicorn) and is reached only over HTTP with signed
requests; its Slack and model calls go over HTTP to the local servers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender

SIGNING_SECRET = "test-signing-secret-8f2a"
BOT_TOKEN = "xoxb-test-token-5d1c"
MODEL_KEY = "sk-test-key-93be"
METRICS_TOKEN = "metrics-token-61d0"


def _redis_url() -> str:
    """A Redis database of this test process's own: parallel workers (pytest -n) never share dedupe or cache keys."""
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    prefix, _, db = base.rpartition("/")
    return f"{prefix}/{(int(db) - worker) % 16}"


REDIS_URL = _redis_url()
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PRICES = {"test-model": [2.0, 8.0]}  # USD per million tokens: easy to check by hand
CONTEXT_TOKENS = 2_000
MAX_INPUT_TOKENS = 1_500


@pytest.fixture(scope="session")
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=BOT_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def model() -> Iterator[ModelServer]:
    with ModelServer(api_key=MODEL_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL schema of this test session's own, so parallel sessions and benchmarks never collide."""
    schema = f"test_session_{os.getpid()}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def bot_env(slack: SlackServer, model: ModelServer | None, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "MODEL": "test-model",
        "MODEL_PRICES": json.dumps(PRICES),
        "MODEL_CONTEXT_TOKENS": str(CONTEXT_TOKENS),
        "MAX_INPUT_TOKENS": str(MAX_INPUT_TOKENS),
        "MODEL_TIMEOUT_SECONDS": "3",
        "MODEL_MAX_RETRIES": "2",
        "OPENAI_BASE_URL": model.base_url if model else "",
        "OPENAI_API_KEY": MODEL_KEY if model else "",
        "LOG_LEVEL": "INFO",
        "STREAM_UPDATE_SECONDS": "0.25",
        "STREAM_THINKING_SECONDS": "1.5",
        "SLACK_STREAMING": "edits",  # most tests follow the edits transport; native streams have their own bot
        "ADMIN_USER_IDS": "WADMIN",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    return {**env, **extra}


@pytest.fixture(scope="session")
def bots(
    slack: SlackServer, model: ModelServer, postgres_url: str, redis_client: redis.Redis
) -> Iterator[tuple[BotProcess, BotProcess]]:
    """Two bot processes sharing PostgreSQL and Redis, as in a deployment behind a load balancer."""
    redis_client.flushdb()
    env = bot_env(slack, model, postgres_url)
    first = BotProcess(env, workers=2).start()
    second = BotProcess(env, workers=1).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="session")
def bot(bots: tuple[BotProcess, BotProcess]) -> BotProcess:
    return bots[0]


@pytest.fixture
def sender(bot: BotProcess) -> Iterator[SlackSender]:
    client = SlackSender(bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def fresh_servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from a seeded workspace and a model server with nothing scripted."""
    if "slack" in request.fixturenames:
        server: SlackServer = request.getfixturevalue("slack")
        server.reset()
        seed_workspace(server)
    if "model" in request.fixturenames:
        request.getfixturevalue("model").reset()
    shared = redis.Redis.from_url(REDIS_URL)
    for pattern in ("llmcache:*", "slack-budget:*", "slack-log:*", "slack-pause:*"):
        for key in shared.scan_iter(pattern):
            shared.delete(key)
    yield


def seed_workspace(slack: SlackServer) -> None:
    slack.add_user("W111", "alice", real_name="Alice Archer")
    slack.add_user("W222", "bob", real_name="Bob Baker")
    slack.add_user("W333", "carol", real_name="Carol Chen")
    slack.add_user("UBOT", "summarybot", is_bot=True)
    people = ["W111", "W222", "W333"]
    slack.add_channel("C111", "general", members=people)
    slack.add_channel("C222", "quiet", members=people)
    slack.add_channel("C333", "private-stuff", is_member=False)


def ledger_rows(database_url: str, **where: str) -> list[dict]:
    engine = sqlalchemy.create_engine(database_url)
    clauses = " AND ".join(f"{column} = :{column}" for column in where) or "1 = 1"
    with engine.connect() as connection:
        rows = (
            connection.execute(sqlalchemy.text(f"SELECT * FROM requests WHERE {clauses} ORDER BY id"), where)
            .mappings()
            .all()
        )
    engine.dispose()
    return [dict(row) for row in rows]
