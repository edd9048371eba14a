"""gunicorn settings used by ``seatsync serve`` (and by bench/, so both measure the same server)."""

import multiprocessing
import os

workers = int(os.environ.get("SEATSYNC_WORKERS", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
threads = int(os.environ.get("SEATSYNC_THREADS", 4))
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("SEATSYNC_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("SEATSYNC_LOG_LEVEL", "info")
# Load the app once in the master so a configuration error stops start-up
# with its one clear line instead of N worker tracebacks.
preload_app = True
