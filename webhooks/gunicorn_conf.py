"""gunicorn settings used by ``seatsync serve`` (``--config python:webhooks.gunicorn_conf``) and by bench/, so both
measure the same server. A module of the package, so an installed seatsync needs no file of the source tree."""

import os

from adapter.config import ConfigError, Settings, load_settings


def _settings() -> Settings:
    """The validated settings; on a bad one, the defaults: the app factory, loaded once in the master
    (``preload_app``), then stops start-up with its one line naming the variable."""
    try:
        return load_settings()
    except ConfigError:
        return Settings()


_SETTINGS = _settings()
# SQLite admits one writer at a time, and intake commits every request waiting in a
# process in one transaction and one fsync (adapter/group_commit.py). Fewer processes
# with more threads make those groups larger: on the 2-CPU reference machine 2 × 16
# gave 0.61-0.64 of the bare endpoint's throughput where 4 × 4 gave 0.25-0.45
# (bench/README.md). Requests mostly wait on that fsync, not on the GIL.
workers = _SETTINGS.http_workers
worker_class = "gthread"
threads = _SETTINGS.http_threads
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = _SETTINGS.access_log
errorlog = "-"
loglevel = _SETTINGS.log_level


def _logconfig_dict() -> dict:
    """seatsync's logging setup (adapter/logs.py) for gunicorn's own lines too."""
    from adapter.logs import dict_config

    return dict_config(_SETTINGS, access_log=_SETTINGS.access_log is not None)


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
