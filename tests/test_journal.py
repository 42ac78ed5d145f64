"""The digest journal: a queued digest that Redis forgets is queued again once, by one worker; a closed one never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.storage.digest_journal import DigestJournal
from bot.storage.ledger import Ledger

GRACE = timedelta(seconds=30)


def journal(tmp_path: Path) -> DigestJournal:
    ledger = Ledger(f"sqlite:///{tmp_path / 'journal.db'}")
    ledger.migrate()
    return DigestJournal(ledger.engine)


def test_a_digest_redis_forgot_is_queued_again_once_it_has_been_missing_for_the_grace_period(tmp_path: Path) -> None:
    first, second = journal(tmp_path), journal(tmp_path)  # two worker machines
    first.opened("forgotten", {"job_id": "forgotten"})
    first.opened("known", {"job_id": "known"})
    first.opened("finished", {"job_id": "finished"})
    first.closed("finished")
    in_redis = {"known"}
    requeued: list[dict] = []
    start = datetime.now(UTC)

    def look(who: DigestJournal, after: timedelta) -> list[str]:
        return who.requeue_forgotten(in_redis.__contains__, requeued.append, now=start + after, grace=GRACE)

    assert look(first, timedelta(0)) == []  # missing once: it may be a running job whose Redis came back
    assert look(second, timedelta(seconds=10)) == []
    assert look(first, timedelta(seconds=31)) == ["forgotten"]
    assert look(second, timedelta(seconds=31)) == []  # the other worker sees it claimed
    assert requeued == [{"job_id": "forgotten"}]


def test_a_digest_that_reappears_in_redis_is_not_queued_again(tmp_path: Path) -> None:
    book = journal(tmp_path)
    book.opened("running", {"job_id": "running"})
    in_redis: set[str] = set()
    requeued: list[dict] = []
    start = datetime.now(UTC)
    book.requeue_forgotten(in_redis.__contains__, requeued.append, now=start, grace=GRACE)
    in_redis.add("running")  # its job wrote itself back when Redis answered again
    book.requeue_forgotten(in_redis.__contains__, requeued.append, now=start + timedelta(seconds=5), grace=GRACE)
    in_redis.clear()
    assert (
        book.requeue_forgotten(in_redis.__contains__, requeued.append, now=start + timedelta(seconds=31), grace=GRACE)
        == []
    )  # missing again, counted afresh
    assert requeued == []
