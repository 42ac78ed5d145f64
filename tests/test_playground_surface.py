"""The playground in Chromium shows the rest of Slack's agent surface: the bot's loading status while an answer is
prepared, and, with native streaming (`SLACK_STREAMING=native`), an agent task's plan with each tool call a task."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from bot.settings import load_settings
from doubles.model_server import ModelServer, Reply
from playground.browser import BrowserPlayground
from playground.demo_workspace import DM, GENERAL
from tests import test_playground_web as web

browser = web.browser  # the same browser fixture as the other playground tests


class Gate:
    """Holds streamed answers (not the router's or the agent's scripted calls) until the test opens it."""

    def __init__(self) -> None:
        self.open = threading.Event()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            self.open.wait(timeout=web.WAIT)
        return Reply(text="Releases ship on Tuesdays after the checklist is green.")


@pytest.fixture(scope="module")
def gated_model() -> Iterator[ModelServer]:
    with ModelServer(api_key="sk-playground-test") as server:
        yield server


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory, gated_model: ModelServer) -> Iterator[BrowserPlayground]:
    env = {
        "OPENAI_BASE_URL": gated_model.base_url,
        "OPENAI_API_KEY": "sk-playground-test",
        "MODEL": "test-model",
        "SLACK_STREAMING": "native",
    }
    tmp: Path = tmp_path_factory.mktemp("playground-native")
    with web._playground(tmp, env) as playground:
        yield playground


def test_the_loading_status_shows_while_the_answer_is_prepared(
    native: BrowserPlayground, gated_model: ModelServer, browser: Any
) -> None:
    gate = Gate()
    gated_model.responder = gate
    try:
        web.open_page(browser, native, DM)
        web.say(browser, "When do releases ship?")
        status = web.wait(
            browser,
            lambda d: (found := d.find_elements(By.CSS_SELECTOR, "#messages .status[role=status]")) and found[0],
            message="no loading status while the answer was prepared",
        )
        assert "Team AI" in status.text and "is" in status.text, status.text
        loading = status.find_elements(By.CSS_SELECTOR, ".loading")
        assert loading and loading[0].text.strip(), "the status showed no loading message"
        assert not web.bot_message_with(browser, "Releases ship on Tuesdays")
        web.shot(browser, "22-loading-status")
    finally:
        gate.open.set()
    web.wait(
        browser,
        lambda d: (m := web.bot_message_with(d, "Releases ship on Tuesdays")) and "▍" not in m["text"],
        message="the answer did not arrive",
    )
    web.wait(
        browser,
        lambda d: not d.find_elements(By.CSS_SELECTOR, "#messages .status"),
        message="the loading status stayed after the answer",
    )


def test_an_agent_task_streams_natively_as_a_plan_with_its_tasks(
    native: BrowserPlayground, gated_model: ModelServer, browser: Any
) -> None:
    gated_model.enqueue(
        Reply(tool_calls=[{"name": "schema", "arguments": {}}]),
        Reply(tool_calls=[{"name": "calculate", "arguments": {"expression": "(130 - 100) / 100 * 100"}}]),
        Reply(text="Sales grew by 30% compared with the month before."),
    )
    web.open_page(browser, native, GENERAL)
    web.say(browser, "@bot agent: Calculate the sales growth from 100 to 130")
    web.open_thread(browser, "Calculate the sales growth")

    def plan(d: Any) -> dict[str, Any] | None:
        return d.execute_script("""
            const article = [...document.querySelectorAll('#thread-messages article.msg.bot')]
              .find((m) => m.querySelector('.plan') && m.innerText.includes('Sales grew by 30%'));
            if (!article) return null;
            return {title: article.querySelector('.plan-title').textContent,
                    tasks: [...article.querySelectorAll('.tasks li.task')].map((t) => ({
                      css: t.className, title: t.querySelector('.task-title').textContent}))};
        """)

    shown = web.wait(browser, plan, message="no plan with tasks above the agent's answer")
    assert "Calculate the sales growth" in shown["title"], shown
    titles = " ".join(t["title"] for t in shown["tasks"])
    assert "schema" in titles and "calculate" in titles, shown
    assert all("complete" in t["css"].split() for t in shown["tasks"]), shown
    web.shot(browser, "23-agent-plan")


def test_the_playground_streams_natively_only_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    playground = BrowserPlayground(load_settings(data_dir=tmp_path, _env_file=None), port=0)
    monkeypatch.delenv("SLACK_STREAMING", raising=False)
    assert playground.bot_env()["SLACK_STREAMING"] == "edits"  # the page's Stop button needs edits
    monkeypatch.setenv("SLACK_STREAMING", "native")
    assert playground.bot_env()["SLACK_STREAMING"] == "native"
