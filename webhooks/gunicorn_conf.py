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
# Load the app once in the master so a configuration error stops start-up
# with its one clear line instead of N worker tracebacks.
preload_app = True
