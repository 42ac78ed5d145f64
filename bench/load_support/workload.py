"""The load bench's requests: the phases, the workspaces, and each request as Slack sends it."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

RESPONSE_BASE = ["http://127.0.0.1:9"]  # set to the local Slack server's root URL before requests are built
NUMBER_BASE = 9_000_000  # request markers: 7-digit numbers, which docs retrieval ignores (digits are no terms)
DOCS_QUESTIONS = [
    "What is the yearly learning budget?",
    "How do I roll back a deploy?",
    "When does the on-call rotation change hands?",
    "Within how many minutes are pages acknowledged?",
    "Which days are deploy windows?",
    "When are laptops replaced?",
    "How is travel booked?",
    "When must receipts be submitted?",
]
CHAT_PROMPTS = [
    "write a short haiku about our sprint retro",
    "draft a friendly note thanking the design folks for the new icons",
    "give me three names for the new analytics dashboard",
    "rewrite this sentence so it sounds warmer: the meeting moved",
]
SUMMARIZE_TEXT = (
    "Planning notes req-{n}: the quarterly planning meeting agreed to move the billing migration to "
    "March, hire two engineers for the search team, and review the on-call rotation after the "
    "holidays. Open question: who owns the data retention policy update that legal asked for "
    "last week? Alice will check with finance about the budget for the conference trip."
)
DIGEST_LINES = [
    ("A", "Kickoff for project {c}: we decided to ship the importer behind a flag next week."),
    ("B", "The staging database for {c} is slow again, anyone looked at the indexes?"),
    ("C", "I'm waiting on WA for the final copy of the {c} onboarding email."),
    ("A", "Agreed: {c} demo moves to Thursday so QA has two more days."),
    ("B", "Reminder: the {c} retro notes are in the shared folder."),
    ("C", "Who can review the {c} pricing page change before Friday?"),
]


@dataclass
class Item:
    index: int
    offset: float  # seconds after the start
    kind: str
    team: str
    channel: str
    user: str
    number: int  # NUMBER_BASE + index: the marker the model's answer carries
    body: bytes = b""
    content_type: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    ts: str = ""  # events: the message ts (the thread the reply goes to)
    retry_of: int | None = None  # a re-delivery of this item's event
    phase: str = ""
    status: int = -1
    ack_ms: float = float("nan")
    late_ms: float = 0.0
    error: str = ""


@dataclass
class Phase:
    name: str
    start: float
    end: float
    rate_from: float
    rate_to: float
    counted: bool  # a hold phase: reported on its own

    def rate(self, t: float) -> float:
        share = (t - self.start) / (self.end - self.start)
        return self.rate_from + (self.rate_to - self.rate_from) * share


@dataclass
class World:
    teams: list[str]
    channels: dict[str, list[str]]  # team -> its conversation channels
    digest_channels: list[tuple[str, str]] = field(default_factory=list)  # (team, channel), one per digest
    digest_channels_used: list[tuple[str, str]] = field(default_factory=list)


def slash(item: Item, command: str, text: str) -> None:
    item.body = urlencode(
        {
            "token": "x",
            "team_id": item.team,
            "team_domain": item.team.lower(),
            "channel_id": item.channel,
            "channel_name": item.channel.lower(),
            "user_id": item.user,
            "user_name": item.user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A111",
            "is_enterprise_install": "false",
            "response_url": f"{RESPONSE_BASE[0]}/response/{item.index}",  # the local Slack keeps what is posted
            "trigger_id": f"{item.index}.{int(time.time())}.load",
        }
    ).encode()
    item.content_type = "application/x-www-form-urlencoded"


def mention(item: Item, text: str, bot_user: str) -> None:
    item.ts = f"{1_600_000_000 + item.index}.{item.index % 1_000_000:06d}"
    event = {
        "type": "app_mention",
        "user": item.user,
        "text": f"<@{bot_user}> {text}",
        "ts": item.ts,
        "channel": item.channel,
        "event_ts": item.ts,
        "team": item.team,
        "client_msg_id": f"msg-{item.index}",
    }
    item.body = json.dumps(
        {
            "token": "x",
            "team_id": item.team,
            "api_app_id": "A111",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{item.index:09d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": item.team,
                    "user_id": bot_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
    ).encode()
    item.content_type = "application/json"


def build_plan(
    phases: list[Phase],
    mix: dict[str, float],
    world: World,
    *,
    retry_share: float,
    seed: int,
    bot_user: str,
    first_index: int = 0,
) -> list[Item]:
    rng = random.Random(seed)
    kinds, weights = zip(*[(k, w) for k, w in mix.items() if w > 0])
    items: list[Item] = []
    index = first_index
    for phase in phases:
        peak = max(phase.rate_from, phase.rate_to)
        t = phase.start
        while True:  # Poisson arrivals at the phase's (linear) rate, by thinning
            t += rng.expovariate(peak)
            if t >= phase.end:
                break
            if rng.random() > phase.rate(t) / peak:
                continue
            kind = rng.choices(kinds, weights)[0]
            team = rng.choice(world.teams)
            item = Item(
                index,
                t,
                kind,
                team,
                rng.choice(world.channels[team]),
                f"W{team[1:]}U{index:06d}",
                NUMBER_BASE + index,
                phase=phase.name,
            )
            make_request(item, world, rng, bot_user)
            items.append(item)
            index += 1
            if kind in ("chat", "docs", "agent") and rng.random() < retry_share:
                retry = Item(
                    index,
                    t + rng.uniform(0.3, 2.5),
                    kind,
                    team,
                    item.channel,
                    item.user,
                    item.number,
                    body=item.body,
                    content_type=item.content_type,
                    ts=item.ts,
                    retry_of=item.index,
                    headers=(("X-Slack-Retry-Num", "1"), ("X-Slack-Retry-Reason", "http_timeout")),
                )
                items.append(retry)
                index += 1
    items.sort(key=lambda i: i.offset)
    for item in items:  # a re-delivery belongs to the phase in which it is sent
        item.phase = next((p.name for p in phases if p.start <= item.offset < p.end), phases[-1].name)
    return items


def make_request(item: Item, world: World, rng: random.Random, bot_user: str) -> None:
    if item.kind == "summarize":
        slash(item, "/summarize", SUMMARIZE_TEXT.format(n=item.number))
    elif item.kind == "digest":
        # a fresh channel per digest; only when a warm-up failure reshaped the mix do they run out and repeat
        item.team, item.channel = (
            world.digest_channels.pop() if world.digest_channels else (world.digest_channels_used[-1])
        )
        world.digest_channels_used.append((item.team, item.channel))
        item.user = f"W{item.team[1:]}A"
        slash(item, "/digest", "")
    elif item.kind == "chat":
        mention(item, f"{rng.choice(CHAT_PROMPTS)}, q-{item.number}", bot_user)
    elif item.kind == "docs":
        mention(item, f"docs: {rng.choice(DOCS_QUESTIONS)} {item.number}", bot_user)
    else:
        mention(item, f"agent: what is our projected revenue if this quarter's 1200 grows 15%? {item.number}", bot_user)
