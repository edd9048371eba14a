"""`seatsync --help` as a newcomer reads it: whole one-line summaries, an example per command, readable metavars."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from adapter.cli.main import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_a_whole_summary_and_an_example(path, command):
    summary = command.get_short_help_str(limit=45)  # what `seatsync --help` lists, at click's default width
    assert summary and not summary.endswith("...") and summary.endswith("."), summary
    assert len(summary) <= 60, summary  # one line beside the command names at 80 columns
    assert command.epilog and "Examples:" in command.epilog
    assert f"seatsync {' '.join(path)}" in command.epilog or path == ("completion",) and "seatsync completion" in \
        command.epilog


def test_the_top_level_listing_is_not_cut():
    listing = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1]
    assert "..." not in listing
    for name in ("accounts", "demo", "reconcile", "send", "completion"):
        assert f"  {name} " in listing


def test_send_lists_its_types_and_documents_plan():
    text = CliRunner().invoke(cli, ["send", "--help"]).output
    for kind in ("seat.activated", "seat.deactivated", "account.plan_changed", "account.seats_snapshot",
                 "account.addons_changed", "account.linked"):
        assert kind in text
    plan_line = next(line for line in text.splitlines() if line.strip().startswith("--plan"))
    assert "plan id" in plan_line
    bad = CliRunner().invoke(cli, ["send", "seat.moved", "--account", "a"])
    assert bad.exit_code == 2 and "seat.activated" in bad.output  # click.Choice names the valid types


def test_backfill_since_metavar_is_readable():
    text = CliRunner().invoke(cli, ["backfill", "--help"]).output
    assert "--since YYYY-MM-DD" in text and "%Y" not in text


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script(shell):
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert "_SEATSYNC_COMPLETE" in result.output and f"{shell}_complete" in result.output
