"""``seatsync``: the command line's entry point; each command group lives in its own module."""

from __future__ import annotations

import adapter.cli.db  # noqa: F401  (seatsync db: issue 13)
import adapter.cli.doctor  # noqa: F401  (seatsync doctor: issue 13)
from adapter.cli import accounts, billing, callbacks, completion, demo, ledger, reconcile, server, sync  # noqa: F401
from adapter.cli.base import cli


def main() -> None:
    cli(prog_name="seatsync")


if __name__ == "__main__":
    main()
