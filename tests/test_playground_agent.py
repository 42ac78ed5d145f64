"""The playground in Chromium shows Slack's agent surface: the DM's suggested prompts (a click asks the bot) and the
"Summarize this thread" shortcut on a message with a thread."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from playground.browser import BrowserPlayground
from playground.demo_workspace import DM, ENGINEERING
from tests import test_playground_web as web

offline = web.offline  # the same module fixtures: one offline playground and one browser for this module
browser = web.browser


def test_the_dm_shows_suggested_prompts_and_a_prompt_asks_the_bot(offline: BrowserPlayground, browser: Any) -> None:
    web.open_page(browser, offline, DM)
    prompts = web.wait(
        browser,
        lambda d: (found := d.find_elements(By.CSS_SELECTOR, "#messages .prompts button.prompt")) and found,
        message="the DM showed no suggested prompts",
    )
    titles = [p.text for p in prompts]
    assert len(titles) == 4 and "Ask the team's docs" in titles and "Run an agent task" in titles
    web.shot(browser, "20-dm-prompts")
    next(p for p in prompts if p.text == "Ask the team's docs").click()

    def answered(d: Any) -> bool:
        for article in d.find_elements(By.CSS_SELECTOR, "#messages article.msg:not(.bot)"):
            if "How do we deploy to production?" in article.text:
                return bool(article.find_elements(By.CSS_SELECTOR, "button.replies")) or bool(
                    web.bot_messages(d)
                    and any("deploy" in m["text"].lower() and "▍" not in m["text"] for m in web.bot_messages(d))
                )
        return False

    web.wait(browser, answered, message="the prompt was not sent and answered")


def test_summarize_this_thread_from_a_messages_shortcut(offline: BrowserPlayground, browser: Any) -> None:
    web.open_page(browser, offline, ENGINEERING)
    shortcut = web.wait(
        browser,
        lambda d: (
            (found := d.find_elements(By.CSS_SELECTOR, "#messages button.shortcut[data-shortcut=summarize_thread]"))
            and found[0]
        ),
        message="no message offers the Summarize this thread shortcut",
    )
    article = shortcut.find_element(By.XPATH, "./ancestor::article")
    first_line = article.find_element(By.CSS_SELECTOR, ".body").text.split("\n")[0][:30]
    shortcut.click()
    web.open_thread(browser, first_line)
    summary = web.wait(
        browser,
        lambda d: web.bot_message_with(d, "Summary of this thread", "thread-messages"),
        message="no thread summary appeared",
    )
    assert "messages), for" in summary["text"]
    web.shot(browser, "21-thread-summary")
