"""The browser playground: every pattern in a Slack-like page, with nothing set up. `python app.py` with no
Slack credentials (or `python app.py playground`) runs it and prints one URL.

One command starts: the local Slack Web API server with a seeded demo workspace, the real bot (`app.py serve`)
wired to it over HTTP with signed requests, the demo docs indexed (the agent's demo database is built by the
bot on first use, under the playground's own DATA_DIR), a digest worker and its job queue, and the page.
The queue is the Redis at REDIS_URL (or 127.0.0.1:6379) when one answers there; otherwise an in-process Redis
(`playground/local_redis.py`) that the bot and the worker reach over a loopback port, as they would a real one.

The model is whatever is configured (OPENAI_BASE_URL / OPENAI_API_KEY are passed to the bot); with none the
bot's offline engine answers, and the page says which.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import urlsplit

import redis

from bot.settings import Settings, load_settings
from doubles.bot_process import ROOT, BotProcess
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from playground.demo_workspace import ME, seed
from playground.local_redis import LocalRedis
from playground.relay import Relay
from playground.web import PlaygroundWeb

SIGNING_SECRET = "playground-signing-secret"
BOT_TOKEN = "xoxb-playground"
DEFAULT_PORT = 8765
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEMO_DOCS = Path(__file__).resolve().parent / "demo_docs"


def engine_label(settings: Settings) -> str:
    """What answers: the configured model, or the offline engine."""
    if settings.model_configured:
        where = settings.openai_base_url or "OpenAI"
        return f"Model: {settings.model} at {where}"
    return "Model: offline engine (no OPENAI_BASE_URL or OPENAI_API_KEY set)"


def jobs_label(redis_url: str | None, local: bool) -> str:
    """Where digests are queued: the Redis found, or the in-process one (never a password)."""
    if local:
        return "Jobs: in-process queue (no Redis reachable)"
    if not redis_url:
        return "Jobs: none"
    parts = urlsplit(redis_url)
    where = f"{parts.hostname or ''}:{parts.port or 6379}{parts.path}" if parts.hostname else parts.path
    return f"Jobs: Redis at {where}"


def reachable_redis(url: str | None) -> str | None:
    """`url` (or the local default) when a Redis answers there, else None."""
    candidate = url or DEFAULT_REDIS_URL
    try:
        client = redis.Redis.from_url(candidate, socket_connect_timeout=0.5, socket_timeout=0.5)
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError):
        return None
    return candidate


class BrowserPlayground:
    """Starts and stops everything the page needs; `url` is the page."""

    def __init__(
        self,
        settings: Settings,
        *,
        port: int = DEFAULT_PORT,
        commands: frozenset[str] = frozenset(),
        redis_url: str | None = None,
        extra_env: dict[str, str] | None = None,
        log: TextIO = sys.stderr,
    ) -> None:
        """`redis_url`: where to look for Redis (default: REDIS_URL, then the local default); `extra_env`: more
        settings for the bot (the model's are passed through from the environment anyway)."""
        self.settings, self.port, self.commands, self.log = settings, port, commands, log
        self.extra_env = dict(extra_env or {})
        self.slack = SlackServer(token=BOT_TOKEN)
        self.slack.cors_headers = {}  # its token is public: no other web site may read the workspace through it
        self.redis_url = reachable_redis(redis_url or os.environ.get("REDIS_URL") or None)
        self.local_redis: LocalRedis | None = None  # started when no Redis answers
        self.data_dir = settings.data_dir.resolve() / "playground"
        self.bot: BotProcess | None = None
        self.helpers: list[subprocess.Popen[str]] = []
        self.web: PlaygroundWeb | None = None
        self.sender: SlackSender | None = None

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    @property
    def jobs(self) -> str:
        """Which job queue the digests use, as the page says it."""
        return jobs_label(self.redis_url, self.local_redis is not None)

    def bot_env(self) -> dict[str, str]:
        """The bot's settings: the local Slack, a data folder of its own, Redis when reachable, the model as set."""
        return {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": self.slack.api_url,
            "DATA_DIR": str(self.data_dir),
            "REDIS_URL": self.redis_url or "",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "LOG_FORMAT": "text",
            "BIND_ADDRESS": "127.0.0.1",  # the signing secret above is public: nothing but this machine may call
            # Edits by default: the page shows their Stop button, which native streams do not have. Native streams
            # (SLACK_STREAMING=native) show an agent's plan and tasks instead.
            "SLACK_STREAMING": "native" if os.environ.get("SLACK_STREAMING") == "native" else "edits",
            # A queue of its own: workers of another playground or bot on the same Redis must not take its jobs.
            "DIGEST_QUEUE": f"playground-{self.slack.port}",
            **self.extra_env,
        }

    def start(self) -> BrowserPlayground:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.redis_url is None:
            self.local_redis = LocalRedis().start()
            self.redis_url = self.local_redis.url
            print("playground: no Redis reachable; using an in-process one for the job queue", file=self.log)
        self.slack.start()
        seed(self.slack)
        self.slack.follow_real_time()  # what the bot posts is stamped with the time it is posted
        env = self.bot_env()
        # The schema first, once: the bot and the docs indexing would otherwise both create the same tables.
        self._run_command(env, "migrate")
        seeding = threading.Thread(target=self._seed, args=(env,), name="playground-seed", daemon=True)
        seeding.start()  # indexing takes seconds: meanwhile the bot starts
        self.bot = BotProcess(env, workers=1).start()
        self.start_job_worker(env)
        seeding.join()
        self.sender = SlackSender(
            self.bot.url,
            SIGNING_SECRET,
            team_id=self.slack.team_id,
            app_id=self.slack.app_id,
            bot_user_id=self.slack.bot_user_id,
        )
        relay = Relay(self.slack, self.sender, ME)
        self.web = self._web(relay)
        self.web.start()
        return self

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        for helper in self.helpers:
            _end(helper)
        if self.bot is not None:
            self.bot.stop()
        if self.sender is not None:
            self.sender.close()
        self.slack.stop()
        if self.local_redis is not None:  # last: the bot and the worker are its clients
            self.local_redis.stop()

    def __enter__(self) -> BrowserPlayground:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the demo data and the job queue ---------------------------------------------------------------------

    def _seed(self, env: dict[str, str]) -> None:
        self.seed_demo_docs(env)  # the agent builds its demo database (DATA_DIR/demo_sales.db) on first use

    def seed_demo_docs(self, env: dict[str, str]) -> None:
        """Index `playground/demo_docs/` for docs questions, with the bot's own ingestion (`app.py ingest`)."""
        if "ingest" in self.commands:
            self._run_command(env, "ingest", str(DEMO_DOCS))
        else:
            print("playground: no `app.py ingest` yet, so the demo docs are not indexed", file=self.log)

    def start_job_worker(self, env: dict[str, str]) -> None:
        """Digests run on a job worker (`app.py worker`), on the real Redis or the in-process one."""
        if self.redis_url and "worker" in self.commands:
            self.helpers.append(
                subprocess.Popen(
                    [sys.executable, str(ROOT / "app.py"), "worker", "--processes", "1"],
                    cwd=ROOT,
                    env={**os.environ, **env},
                    text=True,
                    stdout=subprocess.DEVNULL,
                    stderr=None,
                )
            )

    def _run_command(self, env: dict[str, str], *args: str) -> None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), *args],
            cwd=ROOT,
            env={**os.environ, **env},
            text=True,
            capture_output=True,
            timeout=300,
        )
        if result.returncode != 0:
            print(f"playground: `app.py {' '.join(args)}` failed:\n{result.stderr[-2000:]}", file=self.log)

    def _web(self, relay: Relay) -> PlaygroundWeb:
        label = engine_label(self.settings)
        try:
            return PlaygroundWeb(self.slack, relay, label, port=self.port, jobs=self.jobs)
        except OSError:  # the usual port is taken: any free one will do
            return PlaygroundWeb(self.slack, relay, label, port=0, jobs=self.jobs)


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(
    port: int = DEFAULT_PORT,
    commands: frozenset[str] = frozenset(),
    out: TextIO = sys.stdout,
    *,
    local_model: bool = False,
) -> int:
    """Start the playground, print its URL, and serve until Ctrl-C or SIGTERM. `local_model`: answers come from
    llama.cpp's server running SmolLM2 on this machine (`playground/local_model.py`)."""
    if not local_model:
        return _serve(load_settings(), {}, port, commands, out)
    from playground.local_model import local_model_settings, start_local_model

    try:
        server = start_local_model()
    except RuntimeError as error:
        print(f"playground: --local-model: {error}", file=sys.stderr)
        return 2
    try:
        settings, env = local_model_settings(server)
        return _serve(settings, env, port, commands, out)
    finally:
        server.stop()


def _serve(settings: Settings, extra_env: dict[str, str], port: int, commands: frozenset[str], out: TextIO) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        with BrowserPlayground(settings, port=port, commands=commands, extra_env=extra_env) as playground:
            print(
                f"Playground ready ({engine_label(playground.settings)}; {playground.jobs}). Open {playground.url}",
                file=out,
                flush=True,
            )
            print("Ctrl-C stops it. To connect a real Slack workspace, see README.md.", file=out, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
