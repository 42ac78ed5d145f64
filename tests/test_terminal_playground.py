"""`python app.py playground --terminal`: the terminal playground (no Slack credentials needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_credentials_gives_a_working_playground(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "playground", "--terminal"], cwd=ROOT,
        input="/summarize\n@bot hello there\n/unknown\n",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot: Summarizing… (requested by <@U0ALICE>)" in out
    assert "bot (edited): *Summary of the last 6 messages here, for <@U0ALICE>*" in out
    assert "• carol: I can reproduce it with cards that have spaces in the number." in out
    assert "No model is configured" in out
    assert "no language model is configured" in out  # the honest chat answer
    assert "bot (only you): I don't know the command /unknown. Try /summarize, /digest or /usage." in out
