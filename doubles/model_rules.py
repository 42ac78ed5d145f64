"""Request parameters OpenAI refuses for some model families, enforced by the local model server."""

from __future__ import annotations

import re
from typing import Any

REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(?:gpt-5|o\d)", re.IGNORECASE)


def reasoning_model_refusal(body: dict[str, Any]) -> tuple[str, str, str] | None:
    """OpenAI's rule for reasoning models (``gpt-5*``, ``o1``, ``o3``, ``o4-mini``, ...): ``temperature`` other than
    the default 1 and ``max_tokens`` are rejected (400). Returns (param, code, message) of the refusal, or None."""
    if not REASONING_MODEL.match(str(body.get("model") or "")):
        return None
    if "max_tokens" in body:
        return (
            "max_tokens",
            "unsupported_parameter",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        )
    if "temperature" in body and body["temperature"] != 1:
        return (
            "temperature",
            "unsupported_value",
            f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
            "Only the default (1) value is supported.",
        )
    return None
