"""The model's answers in the load bench: per pattern, with the latency a production deployment reported."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Model time per request, as reported by a production deployment of these patterns. Streamed answers (chat,
# docs) spend part of it before the first token and the rest streaming; the agent makes two calls (a tool call,
# then the answer) of half each; digests are background jobs: 2 s per model call (one map call for a small
# channel) is this benchmark's choice.
MODEL_SECONDS = {"summarize": 1.5, "chat": 2.0, "docs": 2.5, "digest": 2.0, "agent": 5.0}
TOKEN_DELAY = 0.03  # seconds between streamed chunks (3 words each)


def make_responder():  # type: ignore[no-untyped-def]
    from doubles.digest_responder import digest_responder
    from doubles.model_server import Reply, content_text, split_chunks
    from patterns import chat as chat_pattern
    from patterns import digest as digest_pattern
    from patterns import rag as rag_pattern
    from patterns import summarize as summarize_pattern

    seen: Counter[str] = Counter()

    def marker(text: str, pattern: str) -> str:
        found = re.search(pattern, text)
        return found.group(1) if found else "?"

    def streamed(text: str, total: float) -> Reply:
        return Reply(text=text, latency=max(0.0, total - len(split_chunks(text)) * TOKEN_DELAY))

    def responder(body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        system = content_text(messages[0].get("content")) if messages and messages[0].get("role") == "system" else ""
        users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
        last_user = users[-1] if users else ""
        if system in (summarize_pattern.SYSTEM_PROMPT, summarize_pattern.PART_PROMPT):
            seen["summarize"] += 1
            n = marker(last_user, r"req-(\d+)")
            return Reply(
                text=f"Planning decisions (req-{n}).\n\n- The billing migration moves to March.\n- Two "
                "engineers will join the search team.\n- The on-call rotation is reviewed after the "
                "holidays.\n- Open: who owns the data retention policy update for legal.",
                latency=MODEL_SECONDS["summarize"],
            )
        if system == chat_pattern.SYSTEM_PROMPT:
            seen["chat"] += 1
            n = marker(last_user, r"q-(\d+)")
            answer = (
                f"Here you go (answer to q-{n}).\n\n" + "This is a considered reply with a few sentences of "
                "substance, the kind a teammate would write when asked for help in a thread. "
                * 3
                + "\n\n- First, a concrete suggestion\n- Second, an alternative\n- Third, a caveat\n"
            )
            return streamed(answer, MODEL_SECONDS["chat"])
        if system == rag_pattern.SYSTEM_PROMPT:
            seen["docs"] += 1
            n = marker(last_user, r"\b(9\d{6})\b")
            answer = (
                f"According to the team's documents, the answer is in the policy quoted here [1]. It applies "
                f"to everyone, and exceptions need the owner's approval [1]. (docs answer {n})"
            )
            return streamed(answer, MODEL_SECONDS["docs"])
        if system in (digest_pattern.MAP_PROMPT, digest_pattern.REDUCE_PROMPT):
            seen["digest"] += 1
            reply = digest_responder(body)
            reply.latency = MODEL_SECONDS["digest"]
            return reply
        if system.startswith("You are an agent"):
            seen["agent"] += 1
            n = marker("\n".join(users), r"\b(9\d{6})\b")
            if any(m.get("role") == "tool" for m in messages):
                return Reply(
                    text=f"Projected revenue: **1,380** (1,200 grown by 15%). (agent answer {n})",
                    latency=MODEL_SECONDS["agent"] / 2,
                )
            return Reply(
                tool_calls=[{"name": "calculate", "arguments": {"expression": "1200 * 1.15"}}],
                latency=MODEL_SECONDS["agent"] / 2,
            )
        seen["other"] += 1
        return Reply(text="OK.", latency=0.5)

    responder.seen = seen  # type: ignore[attr-defined]
    return responder
