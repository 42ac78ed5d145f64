"""HTTP mode: each web worker hands its post-ack work to a work process of its own, and nothing is lost on the way."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from doubles.bot_process import BotProcess
from doubles.model_server import ModelServer, Reply
from doubles.slack import SlackServer
from doubles.slack_sender import SlackSender
from doubles.worker_process import children_of
from tests.conftest import SIGNING_SECRET, bot_env
from tests.test_summarize import MEETING_NOTES, placeholder_and_final

ANSWER = "Launch moves to Friday."


def web_and_work_processes(bot: BotProcess) -> tuple[int, int]:
    """The pids of the (only) web worker and of its work process, once that is up."""
    assert bot.process is not None
    (web,) = children_of(bot.process.pid)
    bot.wait_for_output(lambda out: f"started for web process {web}" in out)
    (work,) = children_of(web)
    return web, work


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_answers_are_written_by_a_lower_priority_work_process(
    slack: SlackServer, model: ModelServer, postgres_url: str
) -> None:
    with BotProcess(bot_env(slack, model, postgres_url, WORK_PROCESS_NICE="7"), workers=1) as bot:
        web, work = web_and_work_processes(bot)
        assert niceness(work) == min(19, niceness(web) + 7)
        model.enqueue(Reply(text=ANSWER))
        ack = SlackSender(bot.url, SIGNING_SECRET).slash_command("/summarize", MEETING_NOTES, trigger_id="work.1")
        assert ack.status == 200 and ack.body == ""
        _, texts = placeholder_and_final(slack)
        assert texts[-1] == f"*Summary for <@W111>*\n{ANSWER}"


def test_a_dead_work_process_loses_nothing_its_web_process_takes_over(
    slack: SlackServer, model: ModelServer, postgres_url: str
) -> None:
    with BotProcess(bot_env(slack, model, postgres_url), workers=1) as bot:
        work = web_and_work_processes(bot)[1]
        os.kill(work, signal.SIGSTOP)  # it can no longer read: the calls handed over wait in the pipe's buffer
        sender = SlackSender(bot.url, SIGNING_SECRET)
        for n in range(3):
            model.enqueue(Reply(text=f"{ANSWER} ({n})"))
            # Different notes each time: the same notes again would be answered from the response cache.
            ack = sender.slash_command("/summarize", f"{MEETING_NOTES} Note {n}.", trigger_id=f"work.dead.{n}")
            assert ack.status == 200
        os.kill(work, signal.SIGKILL)  # dies with three calls it never read

        def finals() -> list[str] | None:
            edits = [slack.edits("C111", m["ts"]) for m in slack.messages("C111") if m.get("bot_id")]
            return [texts[-1] for texts in edits] if len(edits) == 3 and all(len(t) >= 2 for t in edits) else None

        answers = slack.wait_for(finals, timeout=60)
        assert sorted(answers) == [f"*Summary for <@W111>*\n{ANSWER} ({n})" for n in range(3)]
        assert "post-ack work now runs in web process" in bot.output
        assert "starting with the 3 calls it had not started" in bot.output


def test_stopping_the_bot_lets_the_work_process_finish_the_answers_it_has(
    slack: SlackServer, model: ModelServer, postgres_url: str
) -> None:
    release = threading.Event()
    model.responder = lambda request: (release.wait(20), Reply(text=ANSWER))[1]
    bot = BotProcess(bot_env(slack, model, postgres_url), workers=1).start()
    try:
        SlackSender(bot.url, SIGNING_SECRET).slash_command("/summarize", MEETING_NOTES, trigger_id="work.stop")
        try:
            model.wait_for(lambda: model.in_flight == 1)
        except TimeoutError:
            raise AssertionError(bot.output) from None
        assert bot.process is not None
        bot.process.terminate()  # a deploy: gunicorn stops its workers gracefully
        bot.wait_for_output(lambda out: "Shutting down" in out or "Worker exiting" in out)
        release.set()
        _, texts = placeholder_and_final(slack)
        assert texts[-1] == f"*Summary for <@W111>*\n{ANSWER}"
    finally:
        release.set()
        bot.stop()
