"""``python -m seatsync_sandbox --port PORT [--host 127.0.0.1]`` (installed) or ``python -m tests.sandbox`` (from
the source tree): serve the sandbox."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__ or 'seatsync_sandbox'}", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="loopback by default; the sandbox has no auth")
    args = parser.parse_args(argv)
    app = create_app()
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
