"""The per-workspace Slack call budget (Redis token bucket) that every stream and summary edit draws on."""

from __future__ import annotations

import os
import threading
import time

import redis

from bot.slack.rate_budget import SlackBudget


def test_a_workspace_gets_a_burst_of_nine_edits_of_its_fifty_a_minute_then_waits(redis_client: redis.Redis) -> None:
    budget = SlackBudget(redis_client)
    team = f"T-burst-{os.getpid()}"
    important = [budget.try_take(team, "chat.update", important=True) for _ in range(9)]
    assert important[:8] == [0.0] * 8 and important[8] > 0  # 20% of the 45 a minute it spends (90% of 50), but one
    assert budget.try_take(team, "chat.update", urgent=True) == 0.0  # the last token is for a first text
    assert 0 < budget.try_take(team, "chat.update", urgent=True) <= 60 / 36  # then one every 60/36 s
    assert budget.try_take(f"T-other-{os.getpid()}", "chat.update") == 0.0  # another workspace has its own


def test_waiting_for_a_call_ends_when_the_caller_is_told_to_stop(redis_client: redis.Redis) -> None:
    budget = SlackBudget(redis_client)
    team = f"T-stop-{os.getpid()}"
    while budget.try_take(team, "chat.update", important=True) == 0.0:
        pass
    stop, outcome = threading.Event(), []
    waiting = threading.Thread(target=lambda: outcome.append(budget.take(team, "chat.update", timeout=600, stop=stop)))
    waiting.start()
    stop.set()
    waiting.join(30)
    assert outcome == [False]


def test_a_reply_still_showing_thinking_gets_the_next_edit_before_other_answers_final_edits(
    redis_client: redis.Redis,
) -> None:
    budget = SlackBudget(redis_client)
    team = f"T-urgent-{os.getpid()}"
    while budget.try_take(team, "chat.update", urgent=True) == 0.0:
        pass  # the workspace's edits are spent
    assert budget.try_take(team, "chat.update", important=True) > 0
    while (wait := budget.try_take(team, "chat.update", urgent=True)) > 0:
        assert budget.try_take(team, "chat.update", important=True) > 0  # a final edit never gets ahead
        time.sleep(wait)  # paced by the budget's own hint, as streams are


def test_a_caller_whose_clock_reading_is_late_does_not_make_the_bucket_refill_twice(redis_client: redis.Redis) -> None:
    budget = SlackBudget(redis_client)
    bucket, key = budget.buckets["chat.update"], f"slack-budget:T-late-{os.getpid()}:chat.update"

    def take(now: float) -> bool:  # the bucket's own script, with the clock reading a caller brought along
        granted, _ = budget._script(keys=[key], args=[bucket.burst, bucket.rate_per_second, now, 0, 1])
        return bool(int(granted))

    while take(1_000.0):
        pass  # empty at t = 1000 s
    one_token = 1.01 / bucket.rate_per_second
    assert take(1_000.0 + one_token)  # refilled one token by then
    assert not take(1_000.0)  # a late caller, its reading older: no refill, and the stamp stays
    assert not take(1_000.0 + one_token + 0.1)  # only 0.1 s passed since the last refill


def test_the_sliding_log_counts_a_call_until_its_answer_came_back(redis_client: redis.Redis) -> None:
    """A bucket full of tokens still grants no call once the minute's log is full: a call granted but not yet
    answered counts as if it reached Slack up to 30 s later; once answered (`sent`), from its answer on."""
    budget = SlackBudget(redis_client)
    team = f"T-log-{os.getpid()}"
    keys = [f"slack-budget:{team}:chat.update", f"slack-log:{team}:chat.update", f"slack-pause:{team}:chat.update"]

    def take(member: str) -> tuple[int, float]:  # a roomy bucket, a log of 3 calls a minute
        granted, wait = budget._script(keys=keys, args=[100, 100, time.time(), 0, 1, 3, 30, member])
        return int(granted), float(wait)

    assert [take(m)[0] for m in ("a", "b", "c")] == [1, 1, 1]
    granted, wait = take("d")
    assert granted == 0 and 85 < wait <= 90  # the oldest unanswered call leaves the log 30 + 60 s from now
    budget._tickets.last = {f"{team}:chat.update": (keys[1], "a:1")}
    budget.sent(team, "chat.update")  # call "a" was answered now
    granted, wait = take("e")
    assert granted == 0 and 55 < wait <= 60


def test_a_429_pauses_the_method_for_the_workspace(redis_client: redis.Redis) -> None:
    budget, other = SlackBudget(redis_client), SlackBudget(redis_client)  # two processes
    team = f"T-pause-{os.getpid()}"
    budget.pause(team, "chat.update", 30)
    assert 29 < other.try_take(team, "chat.update", urgent=True) <= 30
    assert other.try_take(f"{team}-other", "chat.update", urgent=True) == 0.0
