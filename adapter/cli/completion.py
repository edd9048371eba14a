"""``seatsync completion``: the shell completion script click generates for this command line."""

from __future__ import annotations

import click

from adapter.cli.base import cli

SHELLS = ("bash", "zsh", "fish")


@cli.command(short_help="Print the shell completion script for bash, zsh or fish.",
             epilog="Examples:\n\n\b\n"
                    "  eval \"$(seatsync completion bash)\"     # in ~/.bashrc\n"
                    "  eval \"$(seatsync completion zsh)\"      # in ~/.zshrc\n"
                    "  seatsync completion fish > ~/.config/fish/completions/seatsync.fish")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell):
    """Print the completion script for SHELL: commands, options and choices (event types, providers)
    complete with Tab once it is loaded."""
    from click.shell_completion import get_completion_class

    # The same script `_SEATSYNC_COMPLETE=<shell>_source seatsync` prints (click's protocol).
    completer = get_completion_class(shell)(cli, {}, "seatsync", "_SEATSYNC_COMPLETE")
    click.echo(completer.source())
