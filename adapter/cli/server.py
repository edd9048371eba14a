"""``seatsync serve`` and ``seatsync worker``: the HTTP server (with the embedded world) and the sync worker."""

from __future__ import annotations

import os
import shutil
import sys

import click

from adapter.cli.base import GUNICORN_CONF, _read, cli, get_settings, world_clock
from adapter.config import load_settings, with_embedded_defaults


def _bind(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--bind")
    return value


def _usable_database(ctx: click.Context, settings) -> None:
    """An unusable database (read-only, full, not a database) stops start-up with one line naming it."""
    from adapter.config import ConfigError
    from adapter.store.connection import ensure_usable

    try:
        ensure_usable(settings.database)
    except ConfigError as exc:
        click.echo(f"seatsync: configuration error: {exc}", err=True)
        ctx.exit(2)


def _refuse_taken_ports(ctx: click.Context, bind: str, sandbox_port: int | None) -> None:
    """A second serve must stop here, before it touches the database, the sandbox or the session file of the
    one already running (issue 13 item 8): probe each port by binding it, then let it go at once."""
    import socket

    host, _, port = bind.rpartition(":")
    wanted = [("--bind", host.strip("[]"), int(port))]
    if sandbox_port is not None:
        wanted.append(("--sandbox-port", "127.0.0.1", sandbox_port))
    for flag, address, number in wanted:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            try:
                probe.bind((address, number))
            except OSError as exc:
                click.echo(f"seatsync: serve: {flag} {address}:{number} is taken ({exc.strerror}); "
                           "is another seatsync running?", err=True)
                ctx.exit(2)


def _metrics_dir(settings) -> str | None:
    """prometheus_client's multiprocess folder, shared by gunicorn's workers and this process's sync worker.

    ``PROMETHEUS_MULTIPROC_DIR`` when set (shared with a separate ``seatsync worker``; its files are wiped
    here, as prometheus_client asks, so restart both together), else a private temporary folder removed at
    exit (returned). prometheus_client reads the variable when first imported: this runs before that.
    """
    import tempfile

    if settings.metrics_dir is not None:
        for stale in settings.metrics_dir.glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    created = tempfile.mkdtemp(prefix="seatsync-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    return created


@cli.command(short_help="Serve the webhooks and run the sync worker (make run).",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync serve\n"
                     "  seatsync serve --bind 127.0.0.1:8080 --sandbox-port 12112\n"
                     "  seatsync serve --no-worker   # and `seatsync worker` elsewhere"))
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--worker/--no-worker", "run_worker", default=True, show_default=True,
              help="Run the sync worker in this process (else run `seatsync worker` separately).")
@click.option("--sandbox-port", default=12111, show_default=True, type=click.IntRange(1, 65535),
              help="Port of the local provider sandbox, started when no provider keys are set.")
@click.pass_context
def serve(ctx: click.Context, bind: str, run_worker: bool, sandbox_port: int):
    """Serve the webhooks (gunicorn with webhooks/gunicorn_conf.py) and run the sync worker.

    With neither STRIPE_API_KEY nor CHARGEBEE_API_KEY set, it also starts the
    local provider sandbox and seeds a demo account per article policy.
    """
    import signal
    import subprocess
    import threading

    settings = get_settings(ctx, join_embedded=False)  # serve starts its own world
    _bind(bind)
    from adapter import logs

    logs.configure(settings)
    _refuse_taken_ports(ctx, bind, None if settings.has_provider_keys else sandbox_port)
    _usable_database(ctx, settings)  # neither imports prometheus_client
    # Only once serve is going to run: it sets PROMETHEUS_MULTIPROC_DIR in this process's environment (a
    # refused in-process serve, as in the tests, used to leave it set for whatever ran next).
    metrics_dir = _metrics_dir(settings)  # before anything imports prometheus_client
    env = dict(os.environ)
    sandbox = None
    session_written = False
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from adapter import embedded

    try:
        if not settings.has_provider_keys:
            try:
                sandbox = embedded.start_sandbox(sandbox_port, settings.database)
            except embedded.EmbeddedError as exc:
                click.echo(f"seatsync: {exc}", err=True)
                ctx.exit(2)
            env.update(sandbox.env)
            settings = with_embedded_defaults(load_settings(env))
            try:
                settings = embedded.seed_demo(settings, sandbox, f"http://{bind}")
            except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
                click.echo(f"seatsync: could not seed the demo world in the sandbox: {type(exc).__name__}: {exc}",
                           err=True)
                ctx.exit(2)
            env["SEATSYNC_MAPPINGS"] = str(settings.mappings)
            env.setdefault("SEATSYNC_PRODUCT_SECRETS", settings.product_secrets[0])
            embedded.write_session(settings.database, {**sandbox.env, "SEATSYNC_MAPPINGS": env["SEATSYNC_MAPPINGS"]},
                                   url=f"http://{bind}")
            click.echo(f"seatsync: local provider sandbox on {sandbox.url}; demo accounts: "
                       + ", ".join(a for a, _, _ in embedded.DEMO_ACCOUNTS))
        else:
            embedded.write_session(settings.database, {}, url=f"http://{bind}")  # where `seatsync send` posts
        session_written = True
        click.echo(f"seatsync: database {settings.database}, mappings {settings.mappings}, listening on http://{bind}")
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONF, "--bind", bind,
                                   "webhooks:create_app()"], env=env)
        thread = None
        if sandbox is not None:  # the demo's frozen clocks follow the world's now while seat changes wait
            threading.Thread(target=embedded.follow_world_clock, args=(settings, stop), name="seatsync-demo-clocks",
                             daemon=True).start()
        if run_worker:
            from adapter.sync.worker import Worker

            sync_worker = embedded.demo_worker(settings) if sandbox is not None else Worker(settings)
            thread = threading.Thread(target=sync_worker.run_forever, args=(stop,), name="seatsync-worker",
                                      daemon=True)
            thread.start()
        while not stop.is_set() and server.poll() is None:
            stop.wait(0.5)
        stop.set()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=15)
        if thread is not None:
            thread.join(timeout=15)
        if server.returncode not in (0, -signal.SIGTERM):
            ctx.exit(server.returncode or 1)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if session_written:
            embedded.remove_session(settings.database)
        if sandbox is not None:
            sandbox.stop()


@cli.command(short_help="The sync worker on its own (beside serve --no-worker).",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync worker\n"
                     "  seatsync worker --once\n"
                     "  seatsync worker --threads 8 --delay 5"))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Accounts synced in parallel.")
@click.option("--delay", default=2.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds a seat change waits to be merged with others (coalescing).")
@click.option("--lease", default=15.0, show_default=True, type=click.FloatRange(3, 600),
              help="Seconds an account's lease lasts; renewed every third of it while the account is worked on, "
                   "so a killed worker's accounts are taken over within this.")
@click.option("--once", is_flag=True, help="One pass over what is due, then exit.")
@click.pass_context
def worker(ctx: click.Context, threads: int, delay: float, lease: float, once: bool):
    """Sync ledger changes to the providers: exactly once, in order, with the policy's flags."""
    import signal
    import threading

    from adapter.sync.worker import Worker, WorkerConfig

    settings = get_settings(ctx)
    from adapter import logs

    logs.configure(settings)
    _usable_database(ctx, settings)
    _read(ctx, lambda db: None)  # the worker's connections do not migrate: a fresh database is made here
    sync_worker = Worker(settings, config=WorkerConfig(threads=threads, coalesce_delay=delay, lease=lease),
                         now_us=world_clock(ctx))
    if once:
        outcomes = sync_worker.run_once()
        if not outcomes:
            click.echo("nothing due: every account's seat changes are already at its provider")
        for outcome in outcomes:
            click.echo(f"{outcome.account}: {outcome.sent} sent, {outcome.dead} dead-lettered"
                       + (", deferred" if outcome.deferred else "") + (", drift recorded" if outcome.drift else ""))
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    sync_worker.run_forever(stop)
