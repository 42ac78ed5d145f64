"""The offline docs answer quotes whole sentences, one per quote, as the page says them; a refusal shows the
words the user asked with."""

from __future__ import annotations

import re

import pytest

from knowledge.retrieval import Hit
from patterns.rag import quoted_answer
from tests.rag_support import ask, cli_env, ingest

PAGE = """# Expenses and equipment

- Each person has a yearly learning budget of 1,000 EUR for books, courses and conferences. No approval is needed
  under 200 EUR; above that, ask your manager in writing.
- Laptops are replaced every three years. Ask IT in #it-help; the standard model ships within a week.
- Travel is booked through the travel desk. Economy class for flights under six hours.
- Every new hire receives a welcome package:
  - a hoodie,
  - socks, and
  - stickers
- Submit receipts within 30 days in the expenses tool; reimbursements arrive with the next salary.
- On a work trip, each of us may spend at most:
  - 80 EUR per day on meals for breakfast, lunch and dinner together
  - 150 EUR per night on a hotel room, taxes included
- To get the handbook's source, run `git clone <repo-url>` in a terminal; see <https://git-scm.com/docs>.

We currently have 2 severity levels for outages, both handled within the response times of our contracts, and we
split them for our own tracking:

1. **Critical** - Issues causing very high impact to customers. Immediate response is required.
2. **Major** - Issues causing significant impact. We might have workarounds.
"""
SENTENCES = [
    "Each person has a yearly learning budget of 1,000 EUR for books, courses and conferences.",
    "No approval is needed under 200 EUR; above that, ask your manager in writing.",
    "Laptops are replaced every three years.",
    "Ask IT in #it-help; the standard model ships within a week.",
    "Travel is booked through the travel desk.",
    "Economy class for flights under six hours.",
    "Every new hire receives a welcome package: a hoodie; socks; stickers.",
    "Submit receipts within 30 days in the expenses tool; reimbursements arrive with the next salary.",
    "On a work trip, each of us may spend at most: 80 EUR per day on meals for breakfast, lunch and dinner together.",
    "On a work trip, each of us may spend at most: 150 EUR per night on a hotel room, taxes included.",
    "To get the handbook's source, run `git clone <repo-url>` in a terminal; see https://git-scm.com/docs.",
    "We currently have 2 severity levels for outages, both handled within the response times of our contracts, and "
    "we split them for our own tracking: **Critical** - Issues causing very high impact to customers; **Major** - Issues "
    "causing significant impact.",
    "**Critical** - Issues causing very high impact to customers.",
    "Immediate response is required.",
    "**Major** - Issues causing significant impact.",
    "We might have workarounds.",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("quotes")
    (root / "docs").mkdir()
    (root / "docs" / "expenses.md").write_text(PAGE)
    env = cli_env(root / "index")
    ingest(env, root / "docs")
    return env


def quotes(answer: str) -> list[str]:
    lines = answer.splitlines()[1:]
    assert all(re.fullmatch(r"- “[^“”]+” \[\d\]", line) for line in lines), lines  # one quote per line
    return [re.search(r"“(.+)”", line).group(1) for line in lines]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much is the yearly learning budget?", SENTENCES[0]),
        ("How often are laptops replaced?", SENTENCES[2]),
        ("What is in the welcome package for a new hire?", SENTENCES[6]),
        ("How much can I spend on hotels per night?", SENTENCES[9]),  # a list item keeps the line it completes
        ("How do I get the source of the handbook?", SENTENCES[10]),  # a placeholder in code is kept as written
        ("What are the two outage severity levels?", SENTENCES[11]),  # a long line announcing a list, with its items
    ],
)
def test_each_quote_is_one_whole_sentence_of_the_page_without_list_markers(
    env: dict[str, str], question: str, expected: str
) -> None:
    reply = ask(env, question)
    assert reply["found"]
    said = quotes(reply["answer"])
    assert said[0] == expected  # the sentence that answers comes first
    assert all(quote in SENTENCES for quote in said)  # whole sentences, never two bullets in one quote


def test_a_refusal_shows_the_words_the_user_searched_for_not_their_stems(env: dict[str, str]) -> None:
    reply = ask(env, "Who won the football world cup in 1954?")
    assert not reply["found"]
    assert "_Searched 1 indexed passages for: won, football, world, cup, 1954._" in reply["text"]


def passage(text: str) -> Hit:
    return Hit("n1", text, "Repairs", "", "repairs.md", "", 1.0, 1.0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much of a laptop repair is paid back?", "Laptop repairs are paid back up to 400 EUR."),
        ("How quickly is a laptop repair paid back?", "Laptop repairs are paid back within 14 days."),
    ],
)
def test_a_question_for_an_amount_or_a_duration_quotes_the_sentence_stating_that_kind_first(
    question: str, expected: str
) -> None:
    page = "- Laptop repairs are paid back within 14 days.\n- Laptop repairs are paid back up to 400 EUR.\n"
    answer, _ = quoted_answer(question, [passage(page)])
    assert quotes(answer)[0] == expected
