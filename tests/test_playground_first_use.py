"""The browser playground as a new user first meets it (offline engine): App Home as a first screen whose
examples run when clicked, times that follow the clock, command notices before what follows them, the
screen reader hearing results, and threads opened at their newest message. Real headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from doubles.chromium import chromium
from playground.browser import BrowserPlayground
from playground.demo_workspace import DM, ENGINEERING, GENERAL, ME, RANDOM
from tests.test_playground_web import (
    NO_MODEL,
    SHOTS,
    _playground,
    bot_message_with,
    open_page,
    open_thread,
    say,
    shot,
    wait,
)


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserPlayground]:
    with _playground(tmp_path_factory.mktemp("playground-first-use"), NO_MODEL) as playground:
        yield playground


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        yield driver


def shown_time(driver: Any, key: str) -> float:
    stamp = driver.find_element(By.CSS_SELECTOR, f'article[data-key="{key}"] time').get_attribute("datetime")
    return datetime.fromisoformat(stamp).timestamp()


def test_a_summary_is_stamped_now_and_the_screen_reader_hears_it(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline, GENERAL)
    asked = time.time()
    say(browser, "/summarize")
    summary = wait(
        browser,
        lambda d: (m := bot_message_with(d, "Summary of the last")) and "Summarizing" not in m["text"] and m,
        message="no summary",
    )
    assert shown_time(browser, summary["key"]) >= int(asked) - 1  # not the time of an earlier message
    wait(
        browser,
        lambda d: "Summary of the last" in d.find_element(By.ID, "announcer").get_attribute("textContent"),
        message="the screen reader was never told the summary (it stayed at the placeholder)",
    )


def test_the_digest_notice_comes_before_the_digest(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline, ENGINEERING)
    say(browser, "/digest")
    wait(
        browser,
        lambda d: (m := bot_message_with(d, "Digest of #engineering")) and "Key messages" in m["text"] and m,
        message="no digest",
    )
    order = browser.execute_script(
        "return [...document.querySelectorAll('#messages article.msg')].map((a) => a.innerText)"
    )
    notice = next(i for i, text in enumerate(order) if "Queued a digest" in text)
    digest = next(i for i, text in enumerate(order) if "Digest of #engineering" in text)
    assert notice < digest, order
    assert "Key messages" in order[digest] and not any(f" m{n} " in order[digest] for n in range(1, 20))


def test_a_long_thread_opens_at_its_newest_message(offline: BrowserPlayground, browser: Any) -> None:
    parent = offline.slack.post(RANDOM, "Ideas for the team offsite, one per reply please.", user="U0BOB")
    for n in range(1, 41):
        offline.slack.post(RANDOM, f"Offsite idea number {n}: something fun.", user="U0CAROL", thread_ts=parent)
    open_page(browser, offline, RANDOM)
    open_thread(browser, "Ideas for the team offsite")
    wait(
        browser,
        lambda d: d.execute_script(
            "const list = document.getElementById('thread-messages');"
            "const last = [...list.querySelectorAll('article')].pop();"
            "const box = list.getBoundingClientRect(), r = last.getBoundingClientRect();"
            "return last.innerText.includes('idea number 40') && r.bottom <= box.bottom + 1 && r.top >= box.top;"
        ),
        message="the thread did not open at its newest message",
    )


def test_home_is_a_first_screen_whose_examples_run_in_the_dm(offline: BrowserPlayground, browser: Any) -> None:
    open_page(browser, offline)
    browser.find_element(By.ID, "home-button").click()
    home = wait(
        browser,
        lambda d: "What I can do" in (h := d.find_element(By.ID, "home")).text and h,
        message="the Home tab does not say what the bot can do",
    )
    for part in ("/summarize", "/digest", "agent:", "No language model is connected", "Your AI usage"):
        assert part in home.text, part
    shot(browser, "12-home-first-screen")
    example = wait(
        browser,
        lambda d: next(
            (b for b in d.find_elements(By.CSS_SELECTOR, "#home button.action") if b.text == "Tables the agent reads"),
            None,
        ),
        message="no example button",
    )
    example.click()
    wait(
        browser,
        lambda d: d.find_element(By.ID, "conversation-title").text == "Team AI",
        message="clicking an example did not show the DM",
    )
    answer = wait(
        browser,
        lambda d: (
            (m := bot_message_with(d, "`schema`") or bot_message_with(d, "schema →")) and "sales" in m["text"] and m
        ),
        message="the example did not run in the DM",
    )
    assert "Example from the Home tab: agent: schema" in browser.find_element(By.ID, "messages").text
    assert offline.slack.channels[DM].info.get("user") == ME.user_id
    assert answer
