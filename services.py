"""Every long-lived object of one bot process, built once from settings: the composition root.

Handlers, answering, digest jobs and the command line take a `Services` and never build these themselves, so a
process holds one of each (one database pool, one Redis pool, one docs index, one agent database).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis

from bot.model.cache import ResponseCache
from bot.model.gateway import Gateway
from bot.settings import Settings
from bot.slack.dedupe import EventDeduper
from bot.slack.rate_budget import SlackBudget
from bot.slack.stream_control import StreamControl
from bot.storage.agent_runs import AgentRunStore
from bot.storage.conversations import ConversationStore
from bot.storage.ledger import Ledger
from bot.storage.spend_limits import Budgets
from knowledge.library import Library

if TYPE_CHECKING:
    from patterns.agent_tools.registry import Toolbox

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    ledger: Ledger
    redis: redis.Redis | None
    deduper: EventDeduper
    slack_calls: SlackBudget  # how many Slack API calls each workspace may still make (Slack's rate tiers)
    streams: StreamControl
    conversations: ConversationStore
    spend_limits: Budgets  # the money and request limits admins set per user, channel or workspace
    agent_runs: AgentRunStore
    docs: Library  # the team's docs index; LlamaIndex is imported on the first docs question, not here
    _toolbox: Toolbox | None = field(default=None, repr=False)
    _toolbox_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings, *, write_behind: bool = False) -> Services:
        """`write_behind`: a long-running bot process, whose ledger rows are written in batches off the request."""
        client = None
        if settings.redis_url:
            # One connection per thread that may use Redis at once; a thread waits for a free one rather than
            # failing (an exhausted pool would push dedupe and budgets onto per-process fallbacks).
            pool = redis.BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=settings.listener_threads + 64,
                timeout=5,
                socket_timeout=2,
                socket_connect_timeout=2,
                health_check_interval=30,
            )
            client = redis.Redis(connection_pool=pool)
        cache = ResponseCache(client, settings.cache_ttl_seconds) if client is not None else None
        ledger = Ledger(settings.resolved_database_url, write_behind=write_behind)
        gateway = Gateway(settings, cache)
        return cls(
            settings=settings,
            gateway=gateway,
            ledger=ledger,
            redis=client,
            deduper=EventDeduper(client),
            slack_calls=SlackBudget(client),
            streams=StreamControl(client),
            conversations=ConversationStore(ledger.engine),
            spend_limits=Budgets(ledger, outage_max_cost=settings.budget_outage_max_cost_usd),
            agent_runs=AgentRunStore(ledger.engine),
            docs=Library(settings, gateway),
        )

    @property
    def toolbox(self) -> Toolbox:
        """The agent's tools; its database is opened on the first agent task (most processes never run one)."""
        with self._toolbox_lock:
            if self._toolbox is None:
                from patterns.agent_tools.wiring import build_toolbox

                self._toolbox = build_toolbox(self.settings, self.docs)
            return self._toolbox
