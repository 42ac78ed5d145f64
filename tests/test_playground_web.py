"""The browser playground end to end: a real headless Chromium drives the page; checks read what is on screen.

The playground runs as in `python app.py playground`: the local Slack server, the real bot process wired to it
over HTTP, the demo docs indexed, Redis and a digest worker. One playground answers with the offline engine (no
model configured); another is configured with a model server that writes slowly, so streaming and Stop can be
watched. A screenshot of each step goes to test-output/playground/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from slack_sdk import WebClient

from bot.settings import load_settings
from bot.slack.feedback import FEEDBACK, read_vote
from bot.storage.feedback import FeedbackStore
from bot.storage.ledger import Ledger
from cli import command_names
from doubles.chromium import chromium
from doubles.model_server import ModelServer, Reply
from playground.browser import BOT_TOKEN, BrowserPlayground
from playground.demo_workspace import DM, ENGINEERING, GENERAL, ME
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "playground"
WAIT = 90.0
NO_MODEL = {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}


def _playground(tmp: Path, env: dict[str, str]) -> BrowserPlayground:
    model = {"model": env["MODEL"]} if "MODEL" in env else {}
    settings = load_settings(
        data_dir=tmp,
        openai_base_url=env.get("OPENAI_BASE_URL") or None,
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        _env_file=None,
        **model,
    )
    return BrowserPlayground(
        settings,
        port=0,
        commands=command_names(),
        redis_url=REDIS_URL,
        extra_env={**env, "STREAM_UPDATE_SECONDS": "0.25", "LOG_LEVEL": "WARNING"},
    )


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserPlayground]:
    with _playground(tmp_path_factory.mktemp("playground-offline"), NO_MODEL) as playground:
        yield playground


@pytest.fixture(scope="module")
def slow_model() -> Iterator[ModelServer]:
    with ModelServer(api_key="sk-playground-test", latency=1.0, token_delay=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def with_model(tmp_path_factory: pytest.TempPathFactory, slow_model: ModelServer) -> Iterator[BrowserPlayground]:
    env = {"OPENAI_BASE_URL": slow_model.base_url, "OPENAI_API_KEY": "sk-playground-test", "MODEL": "test-model"}
    with _playground(tmp_path_factory.mktemp("playground-model"), env) as playground:
        yield playground


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        yield driver


# -- helpers --------------------------------------------------------------------------------------------------


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT, message: str = "") -> Any:
    """Wait for `condition` (elements re-rendered meanwhile are looked up again); on failure keep a screenshot."""
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition, message)
    except TimeoutException:
        shot(driver, "failed-" + re.sub(r"\W+", "-", message)[:60])
        raise


def shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def open_page(driver: Any, playground: BrowserPlayground, conversation: str = GENERAL) -> None:
    driver.get("about:blank")  # a fresh page each time, even when only the #conversation differs
    driver.get(f"{playground.url}#{conversation}")
    wait(
        driver,
        lambda d: d.find_element(By.ID, "conversation-title").text.strip() not in ("", "…"),
        message="the page never showed a conversation",
    )
    wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#messages article.msg, #messages .empty, #messages .prompts"),
        message="the conversation was not shown",
    )


def say(driver: Any, text: str, box: str = "composer-input") -> None:
    field = driver.find_element(By.ID, box)
    field.send_keys(text)
    field.send_keys(Keys.ENTER)
    wait(
        driver,
        lambda d: d.find_element(By.ID, box).get_attribute("value") == "",
        message=f"the message box did not send {text!r}",
    )


def bot_messages(driver: Any, pane: str = "messages") -> list[dict[str, str]]:
    """The bot's messages in a pane as shown now, read in one go (`key`, `text`, `buttons`)."""
    return driver.execute_script(
        """
        return [...document.querySelectorAll(`#${arguments[0]} article.msg.bot`)].map((m) => ({
          key: m.dataset.key, text: m.innerText,
          buttons: [...m.querySelectorAll('button.action')].map((b) => b.textContent.trim())}));
    """,
        pane,
    )


def bot_message_with(driver: Any, text: str, pane: str = "messages") -> dict[str, str] | None:
    return next((m for m in bot_messages(driver, pane) if text in m["text"]), None)


def click_button(driver: Any, key: str, label: str) -> bool:
    """Click the button `label` of message `key` (whatever element currently renders it)."""
    for button in driver.find_elements(By.CSS_SELECTOR, f'article[data-key="{key}"] button.action'):
        if button.text.strip() == label:
            button.click()
            return True
    return False


def record_bot_texts(driver: Any) -> None:
    """Keep every text each bot message showed, in order, as the page re-renders it (for streaming checks)."""
    driver.execute_script("""
        window.__texts = {};
        const record = () => document.querySelectorAll('article.msg.bot').forEach((m) => {
          const list = (window.__texts[m.dataset.key] ||= []);
          const text = m.querySelector('.body').textContent;
          if (list[list.length - 1] !== text) list.push(text);
        });
        new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
    """)


def texts_of(driver: Any, message: dict[str, str]) -> list[str]:
    return driver.execute_script("return window.__texts[arguments[0]] || []", message["key"])


def open_thread(driver: Any, message_text: str) -> None:
    def click() -> bool:
        for article in driver.find_elements(By.CSS_SELECTOR, "#messages article.msg"):
            if message_text in article.text and article.find_elements(By.CSS_SELECTOR, "button.replies"):
                article.find_element(By.CSS_SELECTOR, "button.replies").click()
                return True
        return False

    wait(driver, lambda d: click(), message=f"no thread under {message_text!r}")
    wait(driver, lambda d: d.find_element(By.ID, "thread").is_displayed(), message="the thread pane did not open")


# -- tests ----------------------------------------------------------------------------------------------------


def test_page_shows_the_workspace_and_which_engine_answers_with_no_outside_requests(
    offline: BrowserPlayground, browser: Any
) -> None:
    open_page(browser, offline)
    assert "offline engine" in browser.find_element(By.ID, "engine").text
    assert browser.find_element(By.ID, "jobs").text == "Jobs: Redis at " + REDIS_URL.split("@")[-1].split("//")[-1]
    sidebar = browser.find_element(By.CSS_SELECTOR, "nav.sidebar").text
    for name in ("# general", "# engineering", "# random", "Team AI"):
        assert name in sidebar
    assert browser.find_element(By.ID, "conversation-title").text == "#general"
    assert "The release is blocked" in browser.find_element(By.ID, "messages").text
    origin = offline.url.rstrip("/")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(origin) for name in resources), resources
    shot(browser, "01-workspace")


def test_summarize_streams_into_place(with_model: BrowserPlayground, browser: Any) -> None:
    open_page(browser, with_model)
    assert "Model: test-model at http://127.0.0.1" in browser.find_element(By.ID, "engine").text
    record_bot_texts(browser)
    say(browser, "/summarize")
    placeholder = wait(browser, lambda d: bot_message_with(d, "Summarizing…"), message="no placeholder shown")
    shot(browser, "02-summarize-placeholder")
    summary = wait(
        browser,
        lambda d: (m := bot_message_with(d, "Summary of the last")) and m["key"] == placeholder["key"] and m,
        message="the placeholder never became the summary",
    )
    assert "(edited)" in summary["text"]
    seen = texts_of(browser, summary)
    assert seen[0].startswith("Summarizing…") and "Summary of the last" in seen[-1], seen
    shot(browser, "03-summarize-done")


def test_chat_answer_grows_with_a_stop_button_and_stops_when_clicked(
    with_model: BrowserPlayground, slow_model: ModelServer, browser: Any
) -> None:
    long_answer = " ".join(f"Point {n} of a careful answer." for n in range(1, 70))
    slow_model.enqueue(Reply(text=long_answer))
    open_page(browser, with_model, DM)
    assert browser.find_element(By.ID, "conversation-title").text == "Team AI"
    record_bot_texts(browser)
    say(browser, "Explain our release process in detail")  # in a DM the bot answers in the DM itself
    streaming = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "Point 2", "messages")) and "▍" in m["text"] and "Stop" in m["buttons"] and m
        ),
        message="no partial answer with a cursor and a Stop button",
    )
    shot(browser, "04-chat-streaming")
    wait(browser, lambda d: click_button(d, streaming["key"], "Stop"), message="could not click Stop")
    stopped = wait(
        browser,
        lambda d: (m := bot_message_with(d, "Stopped", "messages")) and m,
        message="the answer did not stop",
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages .replies")  # no thread in the DM
    assert stopped["key"] == streaming["key"]
    assert "Stop" not in stopped["buttons"]
    assert "Point 69" not in stopped["text"] and "▍" not in stopped["text"]
    assert len(texts_of(browser, stopped)) >= 2  # it grew in place before it stopped
    shot(browser, "05-chat-stopped")


def test_agent_task_shows_its_steps_then_the_answer(
    with_model: BrowserPlayground, slow_model: ModelServer, browser: Any
) -> None:
    slow_model.enqueue(
        Reply(tool_calls=[{"name": "schema", "arguments": {}}]),
        Reply(tool_calls=[{"name": "sql", "arguments": {"query": "SELECT count(*) AS n FROM sales"}}]),
        Reply(tool_calls=[{"name": "calculate", "arguments": {"expression": "(130 - 100) / 100 * 100"}}]),
        Reply(text="Sales grew by 30% compared with the month before."),
    )
    open_page(browser, with_model, GENERAL)
    record_bot_texts(browser)
    say(browser, "@bot agent: Find the total sales for last month and calculate the growth")
    open_thread(browser, "Find the total sales for last month")
    answer = wait(
        browser,
        lambda d: (m := bot_message_with(d, "Sales grew by 30%", "thread-messages")) and "▍" not in m["text"] and m,
        message="the agent's answer did not arrive",
    )
    text = answer["text"]
    for tool in ("schema", "sql", "calculate"):
        assert tool in text, text
    assert text.index("calculate") < text.index("Sales grew by 30%")
    seen = texts_of(browser, answer)
    assert any("schema" in t and "Sales grew" not in t for t in seen), seen  # the steps showed before the answer
    shot(browser, "11-agent-steps")


def test_keyboard_only_mention_thread_and_follow_up(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to the message box"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(
        browser,
        lambda d: d.switch_to.active_element.get_attribute("id") == "composer-input",
        message="the skip link did not reach the message box",
    )
    active = browser.switch_to.active_element
    active.send_keys("@bot hello from the keyboard")
    active.send_keys(Keys.ENTER)
    wait(
        browser,
        lambda d: any(b.text == "1 reply" for b in d.find_elements(By.CSS_SELECTOR, "#messages .replies")),
        message="the bot did not answer in a thread",
    )
    for _ in range(80):  # walk back through the focus order to the thread's "1 reply" button
        browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        focused = browser.switch_to.active_element
        if (
            focused.get_attribute("class") == "replies"
            and "hello from the keyboard" in focused.find_element(By.XPATH, "./..").text
        ):
            break
    else:
        pytest.fail("the thread's replies button is not reachable with the keyboard")
    focused.send_keys(Keys.ENTER)
    wait(
        browser,
        lambda d: (
            d.find_element(By.ID, "thread").is_displayed()
            and d.switch_to.active_element.get_attribute("id") == "thread-input"
        ),
        message="Enter on the replies button did not open the thread with focus in its reply box",
    )
    wait(
        browser,
        lambda d: bot_message_with(d, "no language model is configured", "thread-messages"),
        message="the thread does not show the bot's answer",
    )
    browser.switch_to.active_element.send_keys("and a follow-up in the thread")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(
        browser,
        lambda d: len(m := bot_messages(d, "thread-messages")) >= 2 and "▍" not in m[-1]["text"],
        message="the follow-up in the thread was not answered",
    )
    assert "and a follow-up in the thread" in browser.find_element(By.ID, "thread-messages").text
    shot(browser, "06-thread")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(browser, lambda d: not d.find_element(By.ID, "thread").is_displayed(), message="Escape did not close it")
    assert browser.switch_to.active_element.get_attribute("class") == "replies"


def test_feedback_button_thanks_you_and_records_the_vote(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline)
    say(browser, "@bot please rate this answer")
    open_thread(browser, "please rate this answer")
    answer = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "no language model is configured", "thread-messages"))
            and "▍" not in m["text"]
            and m["buttons"] == ["Good answer", "Bad answer"]  # text: no emoji font needed
            and m
        ),
        message="the answer has no feedback buttons",
    )
    value = browser.find_element(
        By.CSS_SELECTOR, f'#thread-messages article[data-key="{answer["key"]}"] button[data-action-id="{FEEDBACK}"]'
    ).get_attribute("data-value")
    vote, request_id = read_vote({"action_id": FEEDBACK, "value": value}) or (0, "")
    assert vote == 1 and request_id
    wait(browser, lambda d: click_button(d, answer["key"], "Good answer"), message="could not click Good answer")
    thanks = wait(
        browser,
        lambda d: next(
            (
                e
                for e in d.find_elements(By.CSS_SELECTOR, "#thread-messages article.ephemeral")
                if "Thanks, glad it helped!" in e.text
            ),
            None,
        ),
        message="no thanks for the vote",
    )
    assert "Only visible to you" in thanks.text
    shot(browser, "12-feedback-thanks")
    ledger = Ledger(load_settings(data_dir=offline.data_dir).resolved_database_url)
    try:
        assert FeedbackStore(ledger).totals(request_id) == (1, 0)  # stored with the answer's request, before the thanks
    finally:
        ledger.engine.dispose()


def test_unknown_command_answer_is_only_visible_to_you(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline)
    say(browser, "/nonsense")
    note = wait(
        browser,
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "#messages article.ephemeral")), None),
        message="no 'only visible to you' answer",
    )
    assert "Only visible to you" in note.text
    assert "I don't know the command /nonsense" in note.text


def test_docs_question_answers_with_citations(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline, ENGINEERING)
    say(browser, "@bot When are deploy windows?")
    wait(
        browser,
        lambda d: any("1 reply" in b.text for b in d.find_elements(By.CSS_SELECTOR, "#messages .replies")),
        message="the bot did not answer the docs question in a thread",
    )
    open_thread(browser, "When are deploy windows?")
    answer = wait(
        browser,
        lambda d: (m := bot_message_with(d, "deploys.md", "thread-messages")) and "▍" not in m["text"] and m,
        message="the answer cites no demo document",
    )
    assert "Monday to Thursday" in answer["text"]
    shot(browser, "07-docs-answer")


def test_digest_shows_its_progress_message_then_the_digest(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline, ENGINEERING)
    record_bot_texts(browser)
    say(browser, "/digest")
    note = wait(
        browser,
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "#messages article.ephemeral") if "Queued a digest" in e.text),
            None,
        ),
        message="/digest was not queued",
    )
    assert "Only visible to you" in note.text
    progress = wait(
        browser,
        lambda d: bot_message_with(d, "queued…") or bot_message_with(d, "Digest of #engineering"),
        message="no progress message",
    )
    shot(browser, "08-digest-progress")
    digest = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "Digest of #engineering"))
            and m["key"] == progress["key"]
            and "queued…" not in m["text"]
            and "message" in m["text"]
            and m
        ),
        message="the progress message never became the digest",
    )
    seen = texts_of(browser, digest)
    assert "queued…" in seen[0] and "queued…" not in seen[-1], seen
    assert re.search(r"\d+ messages, \d+ threads", digest["text"]), digest["text"]
    shot(browser, "09-digest-done")


def test_home_tab_shows_the_view_the_bot_publishes(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline)
    browser.find_element(By.ID, "home-button").click()
    wait(browser, lambda d: d.find_element(By.ID, "home").is_displayed(), message="the Home tab did not open")
    offline.slack.wait_for(lambda: any(c.method == "views.publish" for c in offline.slack.calls), timeout=WAIT)
    home = wait(
        browser,
        lambda d: (h := d.find_element(By.ID, "home")).find_elements(By.CSS_SELECTOR, ".block") and h,
        message="the Home tab shows no blocks",
    )
    assert "Usage" in home.text or "usage" in home.text
    shot(browser, "10-home-usage")


def test_home_tab_renders_blocks_live(offline: BrowserPlayground, browser: Any) -> None:
    """Whatever the bot publishes next shows without reloading: header, section, fields, context, divider."""
    open_page(browser, offline)
    published = len(offline.slack.calls_to("views.publish"))
    browser.find_element(By.ID, "home-button").click()
    offline.slack.wait_for(lambda: len(offline.slack.calls_to("views.publish")) > published, timeout=WAIT)
    client = WebClient(base_url=offline.slack.api_url, token=BOT_TOKEN)
    client.views_publish(
        user_id=ME.user_id,
        view={
            "type": "home",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Live view check"}},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "*Requests* this week: `12`"},
                    "fields": [{"type": "mrkdwn", "text": "_chat_: 7"}, {"type": "mrkdwn", "text": "_summarize_: 5"}],
                },
                {"type": "divider"},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://example.com|details>"}]},
            ],
        },
    )
    wait(browser, lambda d: "Live view check" in d.find_element(By.ID, "home").text, message="no live Home update")
    home = browser.find_element(By.ID, "home")
    assert home.find_element(By.CSS_SELECTOR, "h3.header").text == "Live view check"
    assert home.find_element(By.CSS_SELECTOR, "strong").text == "Requests"
    assert home.find_element(By.CSS_SELECTOR, "code").text == "12"
    assert home.find_element(By.CSS_SELECTOR, ".fields").text.split("\n") == ["chat: 7", "summarize: 5"]
    assert home.find_element(By.CSS_SELECTOR, "a").get_attribute("rel") == "noopener noreferrer"


def test_python_app_py_without_credentials_prints_one_url_that_serves_the_page(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "Open http://127.0.0.1:" in line, (line, process.stderr.read() if process.poll() is not None else "")
        url = line.rsplit(" ", 1)[1].strip()
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "<title>Team AI playground</title>" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        state = httpx.get(url + "api/state", timeout=10).json()
        assert {c["name"] for c in state["conversations"]} >= {"general", "engineering", "random", "Team AI"}
        assert "offline engine" in state["engine"]
        refused = httpx.post(
            url + "api/send",
            json={"channel": GENERAL, "text": "hi"},
            headers={"Origin": "http://evil.example"},
            timeout=10,
        )
        assert refused.status_code == 403
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "No Slack credentials are set, so here is the playground instead" in errors
