"""What kind of message this is, by its words alone: small talk, or a request to write something new.

Routing sends both to chat rather than to the team's documents, and the offline engine greets small talk.
"""

from __future__ import annotations

import re

_GREETING = r"(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening)|thanks|thank you)"
_ABOUT_THE_BOT = (
    r"(?:who are you|what are you|what can you (?:do|help(?: me| us)?(?: with)?)(?: for (?:me|us))?|"
    r"how can you help(?: me| us)?|what do you do|help|what is this bot)"
)
_SMALL_TALK = re.compile(
    rf"^\W*(?:{_GREETING}(?:\s+(?:there|all|everyone|folks|team ai|bot))?\W*)?(?:{_ABOUT_THE_BOT})?\W*$",
    re.IGNORECASE,
)
_POLITE = r"^\W*(?:please\s+|(?:can|could|would|will) you(?: please)?\s+|i (?:need|want) you to\s+)?"
_WRITE_REQUEST = re.compile(
    _POLITE + r"(?:write|draft|compose|generate|create|translate|rewrite|rephrase|refactor|implement|code up|"
    r"debug|brainstorm|tell me a (?:joke|story))\b",
    re.IGNORECASE,
)


def is_small_talk(text: str) -> bool:
    """A greeting, thanks, or a question about the bot itself ("Hi! What can you help me with?")."""
    return bool(re.search(r"\w", text)) and bool(_SMALL_TALK.match(text))


def is_write_request(text: str) -> bool:
    """A request to produce something new ("Can you write a Python function that ..."), not a question."""
    return bool(_WRITE_REQUEST.match(text))
