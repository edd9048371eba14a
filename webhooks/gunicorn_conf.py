"""gunicorn settings used by ``seatsync serve`` (``--config python:webhooks.gunicorn_conf``) and by bench/, so both
measure the same server. A module of the package, so an installed seatsync needs no file of the source tree."""

import multiprocessing
import os

# SQLite admits one writer at a time, and intake commits every request waiting in a
# process in one transaction and one fsync (adapter/group_commit.py). Fewer processes
# with more threads make those groups larger: on the 2-CPU reference machine 2 × 16
# gave 0.61-0.64 of the bare endpoint's throughput where 4 × 4 gave 0.25-0.45
# (bench/README.md). Requests mostly wait on that fsync, not on the GIL.
workers = int(os.environ.get("SEATSYNC_WORKERS", max(1, min(4, multiprocessing.cpu_count()))))
worker_class = "gthread"
threads = int(os.environ.get("SEATSYNC_THREADS", 16))
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("SEATSYNC_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("SEATSYNC_LOG_LEVEL", "info")


def _logconfig_dict() -> dict:
    """seatsync's logging setup (adapter/logs.py) for gunicorn's own lines too. A bad setting is left to the
    app factory, which stops start-up with its one line naming the variable."""
    from adapter.config import ConfigError, Settings, load_settings
    from adapter.logs import dict_config

    try:
        settings = load_settings()
    except ConfigError:
        settings = Settings()
    return dict_config(settings, access_log=bool(os.environ.get("SEATSYNC_ACCESS_LOG")))


logconfig_dict = _logconfig_dict()
# Load the app once in the master so a configuration error stops start-up
# with its one clear line instead of N worker tracebacks.
preload_app = True


def child_exit(server, worker) -> None:
    """A gunicorn worker that exits leaves its metric files for /metrics to sum; prometheus_client's
    multiprocess mode wants it marked dead so its live gauges are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
