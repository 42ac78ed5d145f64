"""A corpus of malformed and hostile Slack requests, each with the answer the bot must give.

`expected` is "4xx" (refused) or "ignored" (acknowledged with 200 and no side effect). None may reach the model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from doubles.slack_sender import sign


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    content_type: str = "application/json"
    expected: str = "4xx"
    signed: bool = True  # sign with the real secret (the body itself is the attack)
    timestamp_offset: int = 0
    signature: str | None = None  # a fixed (bad) signature
    headers: dict[str, str] = field(default_factory=dict)


UNICODE = [
    "\u202eevil\u202c",
    "\u0000",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "😀" * 500,
    "\u200b" * 1000,
    "Z̷̢̛̪͔̖a̸͚̐l̶̰̈́g̵̣̈o̶̲͗",
    "\ufeff",
    "\r\n\r\n",
    "<@UBOT>" * 200,
    "&lt;script&gt;",
    "' OR 1=1 --",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "\\u0000",
    "ｆｕｌｌｗｉｄｔｈ",
]


def _envelope(event: object, **extra: object) -> bytes:
    body = {
        "token": "x",
        "team_id": "T111",
        "api_app_id": "A111",
        "type": "event_callback",
        "event": event,
        "event_id": f"EvH{time.time_ns()}",
        "event_time": int(time.time()),
        **extra,
    }
    return json.dumps(body).encode()


def corpus() -> list[Hostile]:
    items: list[Hostile] = []
    mention = _envelope({"type": "app_mention", "user": "W111", "text": "<@UBOT> hi", "ts": "1.1", "channel": "C111"})
    command = urlencode(
        {
            "command": "/summarize",
            "text": "hello",
            "team_id": "T111",
            "channel_id": "C111",
            "user_id": "W111",
            "trigger_id": "1.2.3",
        }
    ).encode()

    # Bad signatures and timestamps (all must be 401, before anything is parsed).
    for i, signature in enumerate(
        [
            "",
            "v0=",
            "v0=" + "0" * 64,
            "v1=" + "a" * 64,
            "v0=" + "g" * 64,
            "garbage",
            "v0=" + "A" * 64,
            "v0=" + "0" * 63,
            "v0=" + "0" * 65,
            "v0=%%%",
        ]
    ):
        items.append(Hostile(f"bad-signature-{i}", mention, signature=signature))
        items.append(
            Hostile(f"bad-signature-command-{i}", command, "application/x-www-form-urlencoded", signature=signature)
        )
    for offset in (-301, -600, -86_400, -(10**9), 301, 3_600, 10**9):
        items.append(Hostile(f"stale-timestamp-{offset}", mention, timestamp_offset=offset))
    for i, value in enumerate(["abc", "-1", "1e10", "9" * 40, "0x10", "1.5", "NaN", "+1"]):
        items.append(Hostile(f"bad-timestamp-{i}", mention, headers={"X-Slack-Request-Timestamp": value}))
    items.append(Hostile("signed-with-other-secret", mention, signature=sign("other", str(int(time.time())), mention)))

    # Truncated and malformed bodies with valid signatures.
    for cut in (1, 5, 10, 20, 40, 60, 80, 100, 120, len(mention) - 1):
        items.append(Hostile(f"truncated-json-{cut}", mention[:cut]))
    for i, body in enumerate(
        [
            b"",
            b"{",
            b"[]",
            b"null",
            b"42",
            b'"string"',
            b"{]",
            b'{"a":}',
            b"\xff\xfe\xfd",
            b'{"type": "event_callback", "event": "not an object"}',
            b'{"type": "event_callback", "event": null}',
            b'{"type": "event_callback"}',
            b'{"type": "event_callback", "event": []}',
            b'{"type": 5}',
            b"{" * 500 + b"}" * 500,
        ]
    ):
        items.append(Hostile(f"malformed-json-{i}", body))

    # Wrong content types.
    for i, content_type in enumerate(
        [
            "text/plain",
            "application/xml",
            "multipart/form-data",
            "",
            "image/png",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
        ]
    ):
        items.append(Hostile(f"content-type-{i}", mention, content_type))
    items.append(Hostile("form-payload-not-json", b"payload=%7Bnot-json", "application/x-www-form-urlencoded"))
    items.append(Hostile("form-payload-empty", b"payload=", "application/x-www-form-urlencoded"))
    items.append(Hostile("form-junk", b"%%%%&&&===", "application/x-www-form-urlencoded"))

    # Huge bodies.
    items.append(Hostile("huge-body", b"x" * 1_500_000))
    items.append(
        Hostile("huge-json", json.dumps({"type": "event_callback", "event": {"text": "a" * 1_200_000}}).encode())
    )

    # Unknown or odd event types (signed): acknowledged and ignored.
    for kind in (
        "reaction_added",
        "channel_created",
        "team_join",
        "file_shared",
        "emoji_changed",
        "user_change",
        "app_uninstalled",
        "tokens_revoked",
        "pin_added",
        "star_added",
        "member_joined_channel",
        "subteam_updated",
        "dnd_updated",
        "grid_migration_started",
        "x" * 300,
        "",
        "💥",
    ):
        items.append(
            Hostile(f"unknown-event-{kind[:20]}", _envelope({"type": kind, "user": "W111"}), expected="ignored")
        )
    for i, text in enumerate(UNICODE):
        items.append(
            Hostile(
                f"unicode-unknown-event-{i}",
                _envelope({"type": "reaction_added", "reaction": text}),
                expected="ignored",
            )
        )
        items.append(
            Hostile(
                f"unicode-bot-message-{i}",
                _envelope(
                    {
                        "type": "message",
                        "subtype": "bot_message",
                        "bot_id": "B1",
                        "text": text,
                        "ts": "1.1",
                        "channel": "C111",
                        "channel_type": "channel",
                    }
                ),
                expected="ignored",
            )
        )
        items.append(
            Hostile(
                f"unicode-bad-signature-{i}",
                _envelope(
                    {"type": "app_mention", "user": "W111", "text": f"<@UBOT> {text}", "ts": "1.1", "channel": "C111"}
                ),
                signature="v0=" + "1" * 64,
            )
        )
    # Messages the bot must not answer: its own, edits, deletions, channel chatter outside its threads.
    for i, event in enumerate(
        [
            {"type": "message", "subtype": "message_changed", "channel": "C111", "ts": "1.1", "message": {"text": "x"}},
            {"type": "message", "subtype": "message_deleted", "channel": "C111", "ts": "1.1"},
            {
                "type": "message",
                "bot_id": "BBOT",
                "user": "UBOT",
                "text": "my own",
                "ts": "1.1",
                "channel": "D1",
                "channel_type": "im",
            },
            {
                "type": "message",
                "user": "W111",
                "text": "chatter",
                "ts": "1.1",
                "channel": "C111",
                "channel_type": "channel",
            },
            {
                "type": "message",
                "user": "W111",
                "text": "reply elsewhere",
                "ts": "1.2",
                "thread_ts": "9.9",
                "channel": "C111",
                "channel_type": "channel",
            },
            {"type": "message", "subtype": "channel_join", "user": "W111", "ts": "1.1", "channel": "C111"},
        ]
    ):
        items.append(Hostile(f"not-for-the-bot-{i}", _envelope(event), expected="ignored"))
    # Retries of events already handled are ignored (same event id twice).
    dup = _envelope({"type": "reaction_added", "user": "W111"}, event_id="EvHostileDup")
    items += [
        Hostile("duplicate-1", dup, expected="ignored"),
        Hostile("duplicate-2", dup, expected="ignored", headers={"X-Slack-Retry-Num": "1"}),
    ]
    # Interactivity with junk.
    for i, payload in enumerate(
        [
            {"type": "block_actions"},
            {"type": "block_actions", "actions": "x"},
            {"type": "unknown_kind"},
            {"type": "view_submission", "view": None},
            {"type": "block_actions", "actions": [{"action_id": "nope"}]},
        ]
    ):
        items.append(
            Hostile(
                f"interactive-junk-{i}",
                urlencode({"payload": json.dumps(payload)}).encode(),
                "application/x-www-form-urlencoded",
                expected="any",
            )
        )
    # Slash commands with missing or hostile fields.
    for i, fields in enumerate(
        [
            {"command": "/summarize"},
            {"command": "/nope", "text": "x"},
            {"command": ""},
            {"text": "no command"},
            {"command": "/summarize" + "x" * 5000},
            {"command": "/usage", "text": "limit ☃ daily $∞"},
        ]
    ):
        items.append(
            Hostile(
                f"command-fields-{i}", urlencode(fields).encode(), "application/x-www-form-urlencoded", expected="any"
            )
        )
    # Deeply nested, oversized and wrongly typed fields (signed).
    for depth in (10, 100, 1_000, 5_000):
        items.append(Hostile(f"nested-{depth}", ("[" * depth + "]" * depth).encode()))
    for i, event in enumerate(
        [
            {"type": "app_mention"},  # no user, text, ts or channel
            {"type": "app_mention", "user": None, "text": None, "ts": None, "channel": None},
            {"type": "app_mention", "user": ["W1"], "text": {"a": 1}, "ts": 1.5, "channel": 42},
            {"type": "message", "channel_type": "im"},
            {"type": "message", "channel_type": "im", "user": "W111", "ts": None, "channel": None, "text": 7},
            {"type": "app_home_opened", "user": None, "tab": "home"},
            {"type": "app_home_opened", "tab": ["home"]},
        ]
    ):
        items.append(
            Hostile(f"wrong-types-{i}", _envelope(event), expected="any", signed=False, signature="v0=" + "2" * 64)
        )
        items.append(Hostile(f"wrong-types-signed-{i}", _envelope(event), expected="any"))
    for kind in (
        "call_rejected",
        "link_shared",
        "message_metadata_posted",
        "workflow_step_execute",
        "function_executed",
        "assistant_thread_started",
        "scope_granted",
        "resources_added",
        "im_history_changed",
        "group_archive",
        "channel_rename",
        "shared_channel_invite_received",
        "team_domain_change",
        "email_domain_changed",
        "user_huddle_changed",
        "invite_requested",
        "commands_changed",
        "bot_added",
        "app_rate_limited",
        "app_requested",
    ):
        items.append(Hostile(f"unsubscribed-event-{kind}", _envelope({"type": kind}), expected="ignored"))
    for cut in (3, 9, 15, 30, 45, 60, 75, 90):
        items.append(
            Hostile(
                f"truncated-form-{cut}",
                command[:cut],
                "application/x-www-form-urlencoded",
                expected="any",
                signature="v0=" + "3" * 64,
            )
        )
    return items
