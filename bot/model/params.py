"""Which request parameters each model family accepts, so a request never carries one its server rejects.

OpenAI's reasoning models (`gpt-5*`, and the `o` series: `o1`, `o3`, `o4-mini`, ...) reject `temperature` other
than the default and reject `max_tokens`: they take `max_completion_tokens`. Other models take both as usual.

| family (model name) | temperature | token limit parameter |
|---|---|---|
| `gpt-5*`, `o<digit>*` (also after a `provider/` prefix) | not sent | `max_completion_tokens` |
| anything else | sent | `max_tokens` |

`MODEL_PARAMS` overrides this per model name, as JSON:
`{"my-reasoner": {"temperature": false, "max_tokens": "max_completion_tokens"}}`
(`temperature`: whether it is sent; `max_tokens`: the parameter name of the answer's token limit).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_REASONING = re.compile(r"^(?:[\w.-]+/)?(?:gpt-5|o\d)", re.IGNORECASE)
TOKEN_LIMIT_NAMES = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True)
class ModelRules:
    temperature: bool = True
    max_tokens: str = "max_tokens"


REASONING_RULES = ModelRules(temperature=False, max_tokens="max_completion_tokens")


def parse_overrides(raw: str) -> dict[str, ModelRules]:
    """`MODEL_PARAMS` as rules per model name; raises ValueError with a readable reason."""
    if not raw.strip():
        return {}
    table = json.loads(raw)
    if not isinstance(table, dict):
        raise ValueError("not a JSON object")
    rules: dict[str, ModelRules] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) - {"temperature", "max_tokens"}:
            raise ValueError(f"{name}: use the keys temperature and max_tokens")
        temperature = entry.get("temperature", True)
        limit = entry.get("max_tokens", "max_tokens")
        if not isinstance(temperature, bool) or limit not in TOKEN_LIMIT_NAMES:
            raise ValueError(f"{name}: temperature is true or false, max_tokens is max_tokens or max_completion_tokens")
        rules[name] = ModelRules(temperature=temperature, max_tokens=limit)
    return rules


def rules_for(model: str, overrides: dict[str, ModelRules] | None = None) -> ModelRules:
    if overrides and model in overrides:
        return overrides[model]
    return REASONING_RULES if _REASONING.match(model) else ModelRules()


def request_params(
    model: str, *, temperature: float | None, max_tokens: int | None, overrides: dict[str, ModelRules] | None = None
) -> dict[str, Any]:
    """The sampling parameters to send to `model`, leaving out what it would reject."""
    rules = rules_for(model, overrides)
    params: dict[str, Any] = {}
    if temperature is not None and rules.temperature:
        params["temperature"] = temperature
    if max_tokens is not None:
        params[rules.max_tokens] = max_tokens
    return params
