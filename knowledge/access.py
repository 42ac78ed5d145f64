"""Who may read which documents: each source's visibility, and the audience a search is made for.

A source is workspace-wide (the default) or limited to channels (`ingest PATH --channel #hr`). Under OAuth
installs it also belongs to one workspace (`--team T123`). A search is always made for an `Audience`, and the
stores apply `Audience.may_read` to every passage *inside* retrieval, before ranking output leaves the store:
a passage the audience may not read is never a candidate, so it cannot reach a prompt, an answer, a citation,
the "closest passages" line or the agent's `search_docs`.

- A question in a channel (or one of its threads) reads workspace-wide sources and those limited to that
  channel.
- A DM reads workspace-wide sources and those limited to a channel the asker is a member of (asked of Slack
  through `member`, only when such a source exists).
- `Audience.public()` (anything that does not say who is asking) reads only workspace-wide sources that belong
  to no workspace in particular; `Audience.operator()` (the command line) reads everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class Visibility:
    """Who may read one source: its workspace ("" = not tied to one) and its channels (none = workspace-wide)."""

    team: str = ""
    channels: tuple[str, ...] = ()  # channel ids, sorted
    names: tuple[str, ...] = ()  # how the operator named them, for reports

    @property
    def restricted(self) -> bool:
        return bool(self.channels)

    def describe(self) -> str:
        where = ", ".join(f"#{n.lstrip('#')}" if not CHANNEL_ID.match(n) else n for n in self.names or self.channels)
        scope = f"limited to {where}" if self.channels else "workspace-wide"
        return f"{scope} (workspace {self.team})" if self.team else scope

    def as_manifest(self) -> dict[str, object]:
        return {"team": self.team, "channels": list(self.channels), "channel_names": list(self.names)}

    @classmethod
    def from_manifest(cls, entry: dict[str, object]) -> Visibility:
        return cls(
            str(entry.get("team") or ""),
            tuple(entry.get("channels") or ()),  # type: ignore[arg-type]
            tuple(entry.get("channel_names") or ()),
        )  # type: ignore[arg-type]


@dataclass(frozen=True)
class Audience:
    """Whom a search is for. `member(channel, user)` answers channel membership (DMs only)."""

    team: str | None = ""  # None: sources of every workspace; else only this workspace's ("" = none's)
    channel: str = ""  # where the question was asked
    user: str = ""
    everywhere: bool = False  # the operator: every channel's sources
    member: Callable[[str, str], bool] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def public(cls) -> Audience:
        return cls()

    @classmethod
    def operator(cls, team: str | None = None) -> Audience:
        return cls(team=team, everywhere=True)

    @classmethod
    def in_channel(cls, channel: str, user: str, *, team: str | None) -> Audience:
        return cls(team=team, channel=channel, user=user)

    @classmethod
    def in_dm(cls, channel: str, user: str, *, team: str | None, member: Callable[[str, str], bool]) -> Audience:
        return cls(team=team, channel=channel, user=user, member=member)

    def may_read(self, team: str, channels: tuple[str, ...] | list[str]) -> bool:
        if self.team is not None and team != self.team:
            return False
        if not channels or self.everywhere or self.channel in channels:
            return True
        if self.member is None or not self.user:
            return False
        return any(self.member(channel, self.user) for channel in channels)

    def allowed(self, scopes: list[tuple[str, tuple[str, ...]]]) -> list[bool]:
        """`may_read` for each (team, channels) scope, asking membership at most once per channel."""
        if self.member is None:
            return [self.may_read(team, channels) for team, channels in scopes]
        answers: dict[str, bool] = {}

        def member(channel: str, user: str) -> bool:
            if channel not in answers:
                answers[channel] = bool(self.member and self.member(channel, user))
            return answers[channel]

        cached = Audience(self.team, self.channel, self.user, self.everywhere, member)
        return [cached.may_read(team, channels) for team, channels in scopes]


@dataclass(frozen=True)
class VisibilityChange:
    """What an ingest sets on the files it is given; None keeps each file's recorded value."""

    team: str | None = None
    channels: tuple[str, ...] | None = None  # () makes the files workspace-wide again
    names: tuple[str, ...] = ()

    def apply(self, current: Visibility | None) -> Visibility:
        current = current or Visibility()
        team = current.team if self.team is None else self.team
        if self.channels is None:
            return Visibility(team, current.channels, current.names)
        order = sorted(range(len(self.channels)), key=lambda i: self.channels[i])  # type: ignore[index]
        return Visibility(
            team,
            tuple(self.channels[i] for i in order),  # type: ignore[index]
            tuple(self.names[i] for i in order) if len(self.names) == len(self.channels) else (),
        )
