"""The README's checkable statements: its commands exist with the options it names, its test command is the one
CI runs, the variables it names are settings (or names the code uses), and the stated test duration is a range
for the machine the test command is configured for."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings
from cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands() -> dict[str, set[str]]:
    """Each command with the options it accepts."""
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    return {name: set(parser._option_string_actions) for name, parser in choices.items()}


def test_every_command_the_readme_shows_exists_with_the_options_it_names() -> None:
    commands = _commands()
    shown = re.findall(r"python app\.py ([a-z][a-z-]*)([^`\n]*)`", README)
    listed = re.findall(r"^- `([a-z][a-z-]*)((?: [^`]*)?)`", README.split("## Command line", 1)[1], re.MULTILINE)
    assert shown and listed
    for command, rest in shown + listed:
        assert command in commands, f"README names `python app.py {command}`, which does not exist"
        for option in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rest):
            assert option in commands[command] or option == "--verbose", f"`{command}` has no option {option}"
    assert {command for command, _ in listed} == set(commands), "the Command line section lists every command"


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)
    assert ci in blocks, f"README's commands {blocks} do not include CI's {ci!r}"
    install = ci.split(" && .venv/bin/python -m pytest")[0]
    assert install.replace("requirements-test.txt", "requirements.txt") + " && .venv/bin/python app.py" in blocks


def test_every_variable_the_readme_names_is_a_setting_or_used_by_the_code() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    code = "\n".join(
        p.read_text() for folder in ("bench", "patterns", "bot", "cli") for p in (ROOT / folder).rglob("*.py")
    )
    names = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)", README))
    assert len(names) > 40
    unknown = sorted(name for name in names if name not in settings and name not in code)
    assert unknown == [], f"README names variables that nothing reads: {unknown}"
    table = re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", README, re.MULTILINE)
    assert table and all(name in settings for name in table), "every variable in the settings table is a setting"


def test_the_stated_test_duration_is_a_range_for_the_configured_machine() -> None:
    match = re.search(r"about (\d+) to (\d+) minutes on a (\d+)-core machine", README)
    assert match, "README states how long the test command takes, as a range"
    low, high, cores = map(int, match.groups())
    assert 0 < low < high <= 2 * low, "a range, not a wish"
    workers = re.search(r"-n (\d+)", (ROOT / "pytest.ini").read_text())
    assert workers and int(workers.group(1)) == cores, "the suite runs one worker per core of the stated machine"
