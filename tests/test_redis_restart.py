"""Redis restarted during a digest: nothing is lost or duplicated, and the requester sees the outcome.

The bot (`python app.py serve`) and real RQ workers (`python app.py worker`) use a private `redis-server` of this
module's own, configured as a production RQ deployment would be (append-only file, fsync on every write), so it
can be crashed and started again on the same port without disturbing the other tests' Redis.

Each test of a running digest holds the job's model calls until Redis has been killed and the workers have noticed,
lets the job finish summarizing while Redis is still down, and starts Redis again only once the job is waiting for
it to post. A digest still waiting in the queue is queued again from the digest journal in the database.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from doubles.bot_process import BotProcess, free_port
from doubles.digest_responder import digest_responder
from doubles.model_server import ModelServer
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import WorkerProcess
from tests.conftest import SIGNING_SECRET, bot_env, ledger_rows
from tests.test_digest import DIGEST_SETTINGS, ack_text, bot_messages, job_ids, seed_discussion, wait_final

REDIS_SERVER = "/usr/bin/redis-server"
DIGEST_HEADING = "*Digest of <#C111> for the last 24 hours · requested by <@W111>*"


class RedisServer:
    """A private redis-server on a free port; `kill()` crashes it, `start()` brings it back on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if not self.running or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start:\n{self.log()}") from None
                time.sleep(0.02)  # polling for readiness, with a deadline
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: a crash, or its container restarted. What was fsynced to the append-only file survives."""
        assert self.process
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def wipe(self) -> None:
        """Lose all the data, as a Redis without persistence does when it restarts."""
        assert not self.running
        for path in self.directory.iterdir():
            if path.name != "redis.log":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text() if path.exists() else ""


# Fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    if server.running:
        server.kill()


@pytest.fixture(scope="module")
def env(slack: SlackServer, model: ModelServer, postgres_url: str, redis_server: RedisServer) -> dict[str, str]:
    return bot_env(
        slack,
        model,
        postgres_url,
        **{
            **DIGEST_SETTINGS,
            "REDIS_URL": redis_server.url,
            "DIGEST_QUEUE": "digest",
            "MODEL_TIMEOUT_SECONDS": "30",  # model calls are held while Redis is down
            "WORKER_DEAD_AFTER_SECONDS": "20",  # longer than the outage, as production's 60 s is longer than a restart
            "DIGEST_REQUEUE_AFTER_SECONDS": "10",  # longer than a running job takes to notice Redis is back (<= 5 s)
        },
    )


@pytest.fixture(scope="module")
def digest_bot(env: dict[str, str]) -> Iterator[BotProcess]:
    with BotProcess(env, workers=1) as process:
        yield process


@pytest.fixture(scope="module")
def workers(env: dict[str, str], digest_bot: BotProcess) -> Iterator[WorkerProcess]:
    process = WorkerProcess(env, processes=2).start()
    yield process
    process.stop()


@pytest.fixture
def sender(digest_bot: BotProcess) -> Iterator[SlackSender]:
    client = SlackSender(digest_bot.url, SIGNING_SECRET, bot_user_id="UBOT")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def fresh_state(slack: SlackServer, model: ModelServer, redis_server: RedisServer) -> None:
    """Messages are seeded one hour ago and on, and no model answer is cached: each test's model calls happen."""
    slack.set_clock(time.time() - 3_600)
    model.responder = digest_responder
    client = redis.Redis.from_url(redis_server.url)
    for pattern in ("llmcache:*", "slack-budget:*", "slack-log:*", "slack-pause:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()


# Helpers ----------------------------------------------------------------------------------------------------


def restart_redis_mid_digest(
    slack: SlackServer,
    model: ModelServer,
    redis_server: RedisServer,
    workers: WorkerProcess,
    sender: SlackSender,
    *,
    empty: bool,
) -> tuple[str, dict, str]:
    """Start a digest of #general and restart Redis (coming back empty if `empty`) while the job runs.

    Redis is killed while the job's model calls are in flight and stays down until the job's worker has missed a
    heartbeat and the job, done summarizing, waits for Redis to post. Returns the job id, the progress message
    and the workers' output since the crash.
    """
    seed_discussion(slack, filler=60)
    release = threading.Event()
    model.responder = lambda request: (release.wait(30), digest_responder(request))[1]
    try:
        job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))[0]
        model.wait_for(lambda: model.in_flight >= 1, timeout=30)  # mid-job: read the channel, summarizing
        progress = bot_messages(slack, "C111")[0]
        seen = len(workers.output)
        redis_server.kill()
        if empty:
            redis_server.wipe()
        workers.wait_for_output(
            lambda out: f"heartbeat of job {job_id} skipped" in out[seen:] or "quitting" in out[seen:], timeout=20
        )
        release.set()  # the job summarizes while Redis is down
        workers.wait_for_output(
            lambda out: (
                f"digest {job_id}: Redis unreachable (ConnectionError); waiting for it to post the digest" in out[seen:]
            ),
            timeout=30,
        )
    finally:
        release.set()
        if not redis_server.running:
            redis_server.start()
    return job_id, progress, seen


def assert_one_digest_in_the_progress_message(
    slack: SlackServer, job_id: str, progress: dict, postgres_url: str
) -> None:
    message = wait_final(slack, "C111", job_id, timeout=30)
    assert message["ts"] == progress["ts"] and len(bot_messages(slack, "C111")) == 1
    assert message["text"].startswith(DIGEST_HEADING)  # in the channel the requester asked in, naming them
    assert "We decided to keep the old checkout behind a flag for a week." in message["text"]
    edits = slack.edits("C111", message["ts"])
    assert all(edit.startswith(":hourglass_flowing_sand:") for edit in edits[:-1])
    assert not [edit for edit in edits if "that attempt failed" in edit]  # the one attempt finished: no retry
    row = slack.wait_for(lambda: ledger_rows(postgres_url, request_id=job_id), timeout=10)[0]
    assert (row["status"], row["pattern"]) == ("ok", "digest")
    assert len(ledger_rows(postgres_url, request_id=job_id)) == 1


def assert_no_worker_was_lost(workers: WorkerProcess, seen: int) -> None:
    output = workers.output[seen:]
    assert "quitting" not in output and "starting a new one" not in output, output[-3_000:]


# Tests ------------------------------------------------------------------------------------------------------


def test_redis_restarted_mid_digest_posts_one_digest_and_status_still_works(
    slack: SlackServer,
    model: ModelServer,
    redis_server: RedisServer,
    workers: WorkerProcess,
    sender: SlackSender,
    postgres_url: str,
) -> None:
    job_id, progress, seen = restart_redis_mid_digest(slack, model, redis_server, workers, sender, empty=False)

    assert_one_digest_in_the_progress_message(slack, job_id, progress, postgres_url)
    assert_no_worker_was_lost(workers, seen)
    status = ack_text(sender.slash_command("/digest", "status", user="W111"))
    assert f"`{job_id}` <#C111>, the last 24 hours: done" in status


def test_redis_restarted_empty_mid_digest_still_posts_the_running_digest_and_takes_new_ones(
    slack: SlackServer,
    model: ModelServer,
    redis_server: RedisServer,
    workers: WorkerProcess,
    sender: SlackSender,
    postgres_url: str,
) -> None:
    job_id, progress, seen = restart_redis_mid_digest(slack, model, redis_server, workers, sender, empty=True)

    assert_one_digest_in_the_progress_message(slack, job_id, progress, postgres_url)
    assert_no_worker_was_lost(workers, seen)
    status = ack_text(sender.slash_command("/digest", "status", user="W111"))
    assert f"`{job_id}` <#C111>, the last 24 hours: done" in status  # listed again, though Redis forgot it

    slack.post("C222", "We agreed to move the retro to Thursday.", user="W222")  # the empty Redis takes new jobs
    new_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111", channel="C222", channel_name="quiet")))[
        0
    ]
    assert wait_final(slack, "C222", new_id, timeout=30)["text"].startswith("*Digest of <#C222>")


def test_a_digest_still_queued_when_redis_restarts_empty_is_queued_again_and_posted_once(
    slack: SlackServer,
    model: ModelServer,
    redis_server: RedisServer,
    workers: WorkerProcess,
    sender: SlackSender,
    postgres_url: str,
) -> None:
    seed_discussion(slack)
    workers.stop()  # no worker takes the digest: it waits in the queue, in Redis only
    try:
        job_id = job_ids(ack_text(sender.slash_command("/digest", "", user="W111")))[0]
        progress = slack.wait_for(lambda: bot_messages(slack, "C111"))[0]
        assert f"is queued… · id `{job_id}` · about " in progress["text"]
        queue = redis.Redis.from_url(redis_server.url)
        slack.wait_for(lambda: queue.exists(f"rq:job:{job_id}"))  # queued (the message is posted first)
        redis_server.kill()
        redis_server.wipe()
        redis_server.start()
        assert not queue.exists(f"rq:job:{job_id}")  # the queue forgot it
        queue.close()
    finally:
        workers.start()
    workers.wait_for_output(lambda out: f"digest {job_id}: the job queue forgot it" in out, timeout=60)
    assert_one_digest_in_the_progress_message(slack, job_id, progress, postgres_url)
    status = ack_text(sender.slash_command("/digest", "status", user="W111"))
    assert f"`{job_id}` <#C111>, the last 24 hours: done" in status
