"""Acks first: work that follows an ack waits while this process still has Slack requests to acknowledge.

Slack needs an ack within 3 seconds, and a burst of requests arrives together. Python threads share one
interpreter lock, so the work after each ack (Slack posts, model calls, ledger writes) would otherwise slow
down the acks of the requests behind it. The gate holds that work back until no request is waiting for its
ack, or for `max_wait` seconds at most, so sustained traffic never starves it.
"""

from __future__ import annotations

import threading

from slack_bolt import Ack


class AckFirstGate:
    def __init__(self, max_wait: float = 0.25) -> None:
        self.max_wait = max_wait
        self._in_flight = 0
        self._quiet = threading.Condition()

    def request_started(self) -> None:
        with self._quiet:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._quiet:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.notify_all()

    def wait_until_acks_are_out(self) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: self._in_flight == 0, timeout=self.max_wait)


gate = AckFirstGate()


def ack_at_once(ack: Ack) -> None:
    """The ack function of listeners whose work all happens afterwards, in Bolt lazy listeners."""
    ack()
