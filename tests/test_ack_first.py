"""Work after an ack waits while other requests still wait for their acks, but never longer than `max_wait`."""

from __future__ import annotations

import threading

from bot.slack.ack_first import AckFirstGate


def test_work_starts_when_the_last_pending_request_is_acked() -> None:
    gate = AckFirstGate(max_wait=30)
    gate.request_started()
    gate.request_started()
    started = threading.Event()
    worker = threading.Thread(target=lambda: (gate.wait_until_acks_are_out(), started.set()))
    worker.start()
    gate.request_finished()
    assert not started.wait(0.2)  # one request still waits for its ack
    gate.request_finished()
    assert started.wait(5)
    worker.join()


def test_sustained_traffic_does_not_starve_work() -> None:
    gate = AckFirstGate(max_wait=0.05)
    gate.request_started()  # never finishes
    done = threading.Event()
    threading.Thread(target=lambda: (gate.wait_until_acks_are_out(), done.set())).start()
    assert done.wait(5)
