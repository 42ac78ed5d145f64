"""What one digest may spend: caps on channels and days at the ack, then, per channel before it is queued, its
estimated cost against the per-digest cap (`DIGEST_MAX_COST_USD`) and the budgets, as for every other request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from bot.settings import Settings
from bot.storage.spend_limits import Budgets
from digests.costs import Estimate, estimate
from digests.grammar import CommandError
from digests.reader import history_budget


@dataclass(frozen=True)
class SpendCheck:
    estimate: Estimate
    warning: str = ""  # the budgets' heads-up, told to the requester


def check_caps(settings: Settings, refs: list[str], since: str, window: timedelta) -> None:
    """Raises `CommandError` for more channels or a longer window than one `/digest` may take."""
    if len(refs) > settings.digest_max_channels:
        raise CommandError(
            f"One `/digest` covers at most {settings.digest_max_channels} channels; split them up.",
            kind="too_many_channels",
        )
    if window > timedelta(days=settings.digest_max_days):
        raise CommandError(
            f"'{since}' reaches back too far for a digest here. The longest window is {settings.digest_max_days} days.",
            kind="window_too_long",
        )


def spend_check(
    client: WebClient,
    settings: Settings,
    budgets: Budgets,
    redis_client: Any,
    *,
    team: str,
    channel: str,
    user: str,
    oldest: float,
    latest: float,
) -> SpendCheck:
    """Estimate the digest and check it; raises `CommandError` (refused) or `SlackApiError` (cannot read)."""
    found = estimate(
        client,
        history_budget(redis_client, settings.slack_history_per_minute),
        settings,
        team=team,
        channel=channel,
        oldest=oldest,
        latest=latest,
    )
    if found.cost_usd > settings.digest_max_cost_usd:
        raise CommandError(
            f"This digest would read {found.shown()}, over the limit of ${settings.digest_max_cost_usd:,.2f} for "
            "one digest. Try a shorter window.",
            kind="digest_cost_cap",
        )
    verdict = budgets.check(workspace=team, channel=channel, user=user, estimated_cost=found.cost_usd)
    if not verdict.allowed:
        raise CommandError(verdict.message, kind=verdict.kind)
    return SpendCheck(found, verdict.warning)
