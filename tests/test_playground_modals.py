"""The playground in Chromium shows the modals the bot opens (views.open) and submits them as Slack does: "Ask Team
AI about this message" from a message's shortcuts, and the global "Request a digest" shortcut."""

from __future__ import annotations

import re
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from playground.browser import BrowserPlayground
from playground.demo_workspace import DM, GENERAL
from tests import test_playground_web as web

offline = web.offline  # the same module fixtures: one offline playground and one browser for this module
browser = web.browser


def modal(driver: Any, title: str) -> Any:
    return web.wait(
        driver,
        lambda d: (
            (found := d.find_elements(By.CSS_SELECTOR, "#modal-layer form.modal[role=dialog]"))
            and found[0].find_element(By.ID, "modal-title").text == title
            and found[0]
        ),
        message=f"no {title!r} modal",
    )


def closed(driver: Any) -> bool:
    return not driver.find_elements(By.CSS_SELECTOR, "#modal-layer form.modal")


def test_ask_team_ai_about_a_message_opens_a_modal_and_answers_in_its_thread(
    offline: BrowserPlayground, browser: Any
) -> None:
    web.open_page(browser, offline, GENERAL)
    article = web.wait(
        browser,
        lambda d: next(
            (
                a
                for a in d.find_elements(By.CSS_SELECTOR, "#messages article.msg")
                if "cards that have spaces" in a.text
            ),
            None,
        ),
        message="no message about cards with spaces",
    )
    article.find_element(By.CSS_SELECTOR, "button.shortcut[data-shortcut=ask_about_message]").click()
    form = modal(browser, "Ask Team AI")
    assert "cards that have spaces" in form.text  # the message is quoted as the question's context
    assert form.find_element(By.CSS_SELECTOR, "button.modal-submit").text == "Ask"
    assert form.find_element(By.CSS_SELECTOR, "button.modal-close").text == "Cancel"
    form.find_element(By.CSS_SELECTOR, "button.modal-submit").click()
    web.wait(
        browser,
        lambda d: "required" in d.find_element(By.CSS_SELECTOR, "#modal-layer form.modal").text,
        message="an empty question was not refused",
    )
    field = browser.find_element(By.CSS_SELECTOR, "#modal-layer textarea[data-block=question]")
    assert field == browser.switch_to.active_element or field.is_displayed()
    field.send_keys("Which cards does this affect?")
    for _ in range(6):  # the keyboard stays in the modal: the page behind it is inert, as behind Slack's modals
        browser.switch_to.active_element.send_keys(Keys.TAB)
        assert browser.execute_script("return document.activeElement.closest('#modal-layer') !== null")
    assert browser.execute_script("return document.getElementById('main').closest('[inert]') !== null")
    web.shot(browser, "24-ask-modal")
    browser.find_element(By.CSS_SELECTOR, "#modal-layer button.modal-submit").click()
    web.wait(browser, closed, message="the modal did not close after Ask")
    assert not browser.execute_script(
        "return document.getElementById('main').closest('[inert]') !== null"
    )  # the page is usable again
    web.open_thread(browser, "cards that have spaces")
    answer = web.wait(
        browser,
        lambda d: (m := web.bot_messages(d, "thread-messages")) and "▍" not in m[-1]["text"] and m[-1],
        message="no answer in the message's thread",
    )
    assert answer["text"].strip()
    web.shot(browser, "25-ask-answered")


def test_cancel_closes_the_modal_without_asking(offline: BrowserPlayground, browser: Any) -> None:
    web.open_page(browser, offline, GENERAL)
    browser.find_element(By.CSS_SELECTOR, "button.global-shortcut[data-global-shortcut=request_digest]").click()
    form = modal(browser, "Request a digest")
    form.find_element(By.CSS_SELECTOR, "button.modal-close").click()
    web.wait(browser, closed, message="Cancel did not close the modal")


def test_request_a_digest_from_the_global_shortcut_is_delivered_by_dm(offline: BrowserPlayground, browser: Any) -> None:
    web.open_page(browser, offline, GENERAL)
    browser.find_element(By.CSS_SELECTOR, "button.global-shortcut[data-global-shortcut=request_digest]").click()
    form = modal(browser, "Request a digest")
    for label in ("Channels", "Window", "Deliver"):
        assert label in form.text
    form.find_element(By.CSS_SELECTOR, "button.modal-submit").click()  # no channel chosen: the bot refuses
    web.wait(
        browser,
        lambda d: (
            "Choose at least one channel" in d.find_element(By.CSS_SELECTOR, "#modal-layer form.modal").text
            or "required" in d.find_element(By.CSS_SELECTOR, "#modal-layer form.modal").text
        ),
        message="a digest with no channel was not refused",
    )
    form = browser.find_element(By.CSS_SELECTOR, "#modal-layer form.modal")
    Select(form.find_element(By.CSS_SELECTOR, "select[data-block=channels]")).select_by_visible_text("#general")
    Select(form.find_element(By.CSS_SELECTOR, "select[data-block=window]")).select_by_value("7d")
    form.find_element(By.CSS_SELECTOR, "input[type=radio][data-block=delivery][value=dm]").click()
    web.shot(browser, "26-digest-modal")
    form.find_element(By.CSS_SELECTOR, "button.modal-submit").click()
    web.wait(browser, closed, message="the modal did not close after Start")
    web.open_page(browser, offline, DM)
    digest = web.wait(
        browser,
        lambda d: (m := web.bot_message_with(d, "Digest of #general")) and re.search(r"\d+ messages", m["text"]) and m,
        message="no digest of #general in the DM",
    )
    assert "queued…" not in digest["text"] and "the last 7 days" in digest["text"], digest["text"]
    web.shot(browser, "27-digest-by-dm")
