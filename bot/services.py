"""The long-lived objects of one bot process, built once from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from bot.storage.spend_limits import Budgets
from bot.model.cache import ResponseCache
from bot.storage.conversations import ConversationStore
from bot.slack.dedupe import EventDeduper
from bot.model.gateway import Gateway
from bot.storage.ledger import Ledger
from bot.settings import Settings
from bot.slack.rate_budget import SlackBudget
from bot.slack.stream_control import StreamControl

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    ledger: Ledger
    redis: redis.Redis | None
    deduper: EventDeduper
    budget: SlackBudget
    streams: StreamControl
    conversations: ConversationStore
    budgets: Budgets

    @classmethod
    def build(cls, settings: Settings, *, write_behind: bool = False) -> "Services":
        """`write_behind`: a long-running bot process, whose ledger rows are written in batches off the request."""
        client = None
        if settings.redis_url:
            # One connection per thread that may use Redis at once; a thread waits for a free one rather than
            # failing (an exhausted pool would push dedupe and budgets onto per-process fallbacks).
            pool = redis.BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=settings.listener_threads + 64, timeout=5,
                socket_timeout=2, socket_connect_timeout=2, health_check_interval=30,
            )
            client = redis.Redis(connection_pool=pool)
        cache = ResponseCache(client, settings.cache_ttl_seconds) if client is not None else None
        ledger = Ledger(settings.resolved_database_url, write_behind=write_behind)
        return cls(
            settings=settings,
            gateway=Gateway(settings, cache),
            ledger=ledger,
            redis=client,
            deduper=EventDeduper(client),
            budget=SlackBudget(client),
            streams=StreamControl(client),
            conversations=ConversationStore(ledger.engine),
            budgets=Budgets(ledger),
        )
