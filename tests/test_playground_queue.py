"""The browser playground with no Redis reachable: digests run on its in-process Redis (fakeredis over TCP).

The playground is told to use a Redis where nothing listens, so it starts its own; the bot and the digest worker
are real processes that reach it over a loopback port. A real headless Chromium drives the page: a digest with
its progress message, `/digest status`, and `/digest cancel` stopping a running digest. The model is a local
server, so a digest can be held mid-job. The demo docs are not indexed here (no docs question is asked), which
keeps the start short. Screenshots go to test-output/playground/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from selenium.webdriver.common.by import By

from bot.settings import load_settings
from bot.slack.rate_budget import SlackBudget
from cli import command_names
from doubles.bot_process import free_port
from doubles.chromium import chromium
from doubles.model_server import ModelServer, Reply
from playground.browser import BrowserPlayground, jobs_label
from playground.demo_workspace import ENGINEERING, RANDOM
from playground.local_redis import LocalRedis
from tests.test_playground_web import (
    SHOTS,
    WAIT,
    bot_message_with,
    open_page,
    record_bot_texts,
    say,
    shot,
    texts_of,
    wait,
)

MODEL_KEY = "sk-playground-queue"


@pytest.fixture(scope="module")
def digest_model() -> Iterator[ModelServer]:
    with ModelServer(api_key=MODEL_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def no_redis(tmp_path_factory: pytest.TempPathFactory, digest_model: ModelServer) -> Iterator[BrowserPlayground]:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    model = {"OPENAI_BASE_URL": digest_model.base_url, "OPENAI_API_KEY": MODEL_KEY, "MODEL": "test-model"}
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("playground-no-redis"),
        _env_file=None,
        openai_base_url=digest_model.base_url,
        openai_api_key=MODEL_KEY,
        model="test-model",
    )
    with BrowserPlayground(
        settings,
        port=0,
        commands=command_names() - {"ingest"},
        redis_url=nowhere,
        extra_env={**model, "LOG_LEVEL": "WARNING", "DIGEST_PROGRESS_SECONDS": "0.2"},
    ) as playground:
        yield playground


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        yield driver


def ephemeral_with(driver: Any, *texts: str) -> Any:
    return next(
        (
            e
            for e in driver.find_elements(By.CSS_SELECTOR, "#messages article.ephemeral")
            if all(text in e.text for text in texts)
        ),
        None,
    )


def job_id(text: str) -> str:
    found = re.search(r"id `?([0-9a-f]{8})`?", text)
    assert found, text
    return found.group(1)


def test_local_redis_answers_redis_py_as_redis_does() -> None:
    """What the bot and RQ rely on, over a real socket: Lua scripts, error replies, CLIENT INFO, blocking pops."""
    with LocalRedis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        budget = SlackBudget(client)
        assert [budget.try_take("T1", "chat.update") for _ in range(4)] == [0.0] * 4
        assert client.exists("slack-budget:T1:chat.update")  # taken by the Lua script, not the per-process fallback
        client.set("text", "x")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.lpush("text", 1)
        assert client.get("text") == b"x"  # the same connection answers on after an error reply
        client.client_setname("worker-1")
        info = client.client_info()
        assert info["name"] == "worker-1" and re.fullmatch(r"127\.0\.0\.1:\d+", info["addr"])
        client.rpush("queue", "job")
        assert client.blpop(["queue"], timeout=1) == (b"queue", b"job")
        client.close()
    assert jobs_label("redis://:secret@redis.internal:6380/2", local=False) == "Jobs: Redis at redis.internal:6380/2"


def test_without_redis_digest_status_and_cancel_work_on_the_in_process_queue(
    no_redis: BrowserPlayground, digest_model: ModelServer, browser: Any
) -> None:
    assert no_redis.local_redis is not None and no_redis.redis_url == no_redis.local_redis.url
    open_page(browser, no_redis, ENGINEERING)
    assert browser.find_element(By.ID, "jobs").text == "Jobs: in-process queue (no Redis reachable)"
    record_bot_texts(browser)

    say(browser, "/digest")
    wait(browser, lambda d: ephemeral_with(d, "Queued a digest"), message="/digest was not queued")
    progress = wait(
        browser,
        lambda d: bot_message_with(d, "queued…") or bot_message_with(d, "Digest of #engineering"),
        message="no progress message",
    )
    digest = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "Digest of #engineering"))
            and m["key"] == progress["key"]
            and "queued…" not in m["text"]
            and "messages, " in m["text"]
            and m
        ),
        message="the progress message never became the digest",
    )
    assert re.search(r"\d+ messages, \d+ threads", digest["text"]), digest["text"]
    seen = texts_of(browser, digest)
    assert "queued…" in seen[0] and "queued…" not in seen[-1], seen
    shot(browser, "13-no-redis-digest")
    edits = no_redis.slack.edits(ENGINEERING, digest["key"].rsplit(":", 1)[1])  # what reached Slack, in order
    assert "queued…" in edits[0] and any("reading" in e for e in edits[1:-1]) and "messages, " in edits[-1], edits
    first = job_id(edits[0])

    say(browser, "/digest status")
    status = wait(browser, lambda d: ephemeral_with(d, "Your digests", first), message="no /digest status")
    assert re.search(rf"{first}.*done", status.text), status.text

    # A digest held by a slow model call is stopped by /digest cancel (RQ's stop command, over the queue's pub/sub).
    digest_model.enqueue(Reply(text="This answer is never used.", latency=WAIT))
    open_page(browser, no_redis, RANDOM)  # another channel: the model's answers for #engineering are cached
    record_bot_texts(browser)
    say(browser, "/digest")
    running = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "Digest of #random"))
            and ("reading" in m["text"] or "summarized" in m["text"])
            and m
        ),
        message="the second digest never started",
    )
    second = job_id(running["text"])
    digest_model.wait_for(lambda: digest_model.in_flight > 0, timeout=WAIT)  # the job waits for the model
    say(browser, f"/digest cancel {second}")
    cancelled = wait(
        browser,
        lambda d: (m := bot_message_with(d, "cancelled by")) and m["key"] == running["key"] and m,
        message="the running digest was not cancelled",
    )
    assert "Digest of #random" in cancelled["text"]
    say(browser, "/digest status")
    status = wait(
        browser,
        lambda d: ephemeral_with(d, "Your digests", second, "cancelled"),
        message="/digest status does not show the cancelled digest",
    )
    assert re.search(rf"{first}.*done", status.text), status.text
    shot(browser, "14-no-redis-digest-cancelled")
    assert no_redis.bot is not None
    for fallback in ("unavailable", "REDIS_URL is not set"):  # cache, dedupe and Slack budget used the queue's Redis
        assert fallback not in no_redis.bot.output, no_redis.bot.output
