"""A DM is one long conversation: each answer reads only its recent turns, oldest first."""

from __future__ import annotations

from pathlib import Path

from bot.storage.conversations import RECENT_TURNS, ConversationStore
from bot.storage.ledger import Ledger


def test_a_long_dm_reads_only_its_recent_turns_in_order(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'bot.db'}")
    ledger.migrate()
    store = ConversationStore(ledger.engine)
    for n in range(RECENT_TURNS + 50):
        store.add(workspace="T1", channel="D1", thread_ts="dm", role="user" if n % 2 else "assistant", text=f"t{n}")
    store.add(workspace="T1", channel="D2", thread_ts="dm", role="user", text="another DM")

    turns = store.turns("D1", "dm")
    assert [t.text for t in turns] == [f"t{n}" for n in range(50, RECENT_TURNS + 50)]
    assert [t.text for t in store.turns("D1", "dm", last=1)] == [f"t{RECENT_TURNS + 49}"]
    assert [t.text for t in store.turns("D2", "dm")] == ["another DM"]
