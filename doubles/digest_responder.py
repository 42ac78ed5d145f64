"""A scripted "model" for digests, for `ModelServer.responder`: answers map and reduce prompts with real JSON.

It reads the transcript lines (`m12 alice: text`, replies with ↳) and picks items the way a model would:
a line with "decided" or "agreed" is a decision, a line ending in "?" an open question, "waiting on" / "waiting
for" a waiting item, and the first lines become topics. Merge prompts get the union of the parts' items. So
tests and benchmarks can check that digests carry the right references without a real model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from doubles.model_server import Reply, content_text

_LINE = re.compile(r"^\s*(?:↳\s*)?(m\d+) ([^:]+): (.*)$")
_WAITING = re.compile(r"waiting (?:on|for) @?(\w+)(?: (?:for|to) (.+?))?[.!]?$", re.IGNORECASE)
LIMIT = 8


def digest_responder(request: dict[str, Any]) -> Reply:
    messages = request.get("messages") or []
    system = content_text(messages[0].get("content")) if messages else ""
    user = content_text(messages[-1].get("content")) if messages else ""
    if system.startswith("You merge"):
        return Reply(text=json.dumps(merge(user)))
    return Reply(text=json.dumps(summarize_part(user)))


def summarize_part(transcript: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"topics": [], "decisions": [], "open_questions": [], "waiting": []}
    for raw in transcript.splitlines():
        match = _LINE.match(raw)
        if not match:
            continue
        ref, name, text = match.groups()
        lower = text.lower()
        if len(out["topics"]) < 2 and not raw.lstrip().startswith("↳"):
            out["topics"].append({"title": " ".join(text.split()[:4]), "summary": text[:120], "refs": [ref]})
        if ("decided" in lower or "agreed" in lower) and len(out["decisions"]) < 3:
            out["decisions"].append({"text": text[:160], "refs": [ref]})
        if text.rstrip().endswith("?") and len(out["open_questions"]) < 3:
            out["open_questions"].append({"text": text[:160], "asked_by": name, "refs": [ref]})
        if (waiting := _WAITING.search(text)) and len(out["waiting"]) < 3:
            out["waiting"].append(
                {"who": name, "on": waiting.group(1), "for": (waiting.group(2) or "")[:80], "refs": [ref]}
            )
    return out


def merge(parts_text: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"topics": [], "decisions": [], "open_questions": [], "waiting": []}
    for line in parts_text.splitlines():
        _, _, body = line.partition(": ")
        try:
            part = json.loads(body)
        except ValueError:
            continue
        for key in out:
            for item in part.get(key, []):
                if len(out[key]) < LIMIT:
                    out[key].append(item)
    return out
