"""What one digest job does, as plain data: it travels through Redis, so it must survive a deploy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Trigger = Literal["command", "schedule", "cli"]


def counted(amount: int, noun: str) -> str:
    """ "1 message", "1,234 messages"."""
    return f"{amount:,} {noun}{'' if amount == 1 else 's'}"


@dataclass(frozen=True)
class DigestRequest:
    job_id: str
    workspace: str
    channel: str  # the channel digested
    channel_name: str
    user: str  # who asked (or who owns the schedule)
    oldest: float  # window start, epoch seconds
    latest: float  # window end, fixed at queue time so every attempt reads the same messages
    window_label: str  # "the last 24 hours"
    destination: str  # where the progress message and the digest go: the channel, or the user's DM
    progress_ts: str  # the progress message, posted before the job was queued; every attempt edits it
    to_dm: bool = False
    trigger: Trigger = "command"
    schedule_id: int | None = None
    estimated_cost: float | None = None  # USD, estimated before it was queued (shown with the actual cost)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DigestRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def title(self) -> str:
        window = self.window_label if self.window_label.startswith("since") else f"for {self.window_label}"
        return f"Digest of <#{self.channel}> {window}"

    @property
    def requester(self) -> str:
        """ "requested by @user", "scheduled by @user", or "requested from the command line"."""
        if not self.user:
            return "requested from the command line"
        return f"{'scheduled' if self.trigger == 'schedule' else 'requested'} by <@{self.user}>"
