"""Intake benchmark: signed single events per second and latency, seatsync vs a bare 202 endpoint.

Both servers are gunicorn with ``webhooks/gunicorn_conf.py`` (``seatsync serve``'s) on loopback, running
side by side in the same run and driven alternately, in rounds, by the same
client (so a noisy moment on the machine hits both alike): a pool of
threads, each with a keep-alive connection, posting pre-signed single events
(signing is done before the clock starts, identically for both). seatsync
answers 202 only after the event is committed with ``synchronous=FULL``; the
benchmark checks afterwards that every accepted event is in the database.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from adapter.config import load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = "python:webhooks.gunicorn_conf"  # the one `seatsync serve` uses
PATH = "/webhooks/product"
WARMUP = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn process group on a free loopback port; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, app: str, env: dict):
        self.port = _free_port()
        argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONF,
                "--bind", f"127.0.0.1:{self.port}", app]
        self.process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"{app} exited: {stderr[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{app} did not start within 60 s") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=wait)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


def _signed_requests(count: int, secret: str, prefix: str) -> list[tuple[bytes, dict]]:
    from adapter.intake.signing import sign

    requests = []
    for index in range(count):
        event = {"id": f"{prefix}-{index}", "type": "seat.activated", "account": f"acct-{index % 50}",
                 "user": f"user-{index}", "occurred_at": f"2026-03-01T{index // 3600 % 24:02d}:"
                                                        f"{index // 60 % 60:02d}:{index % 60:02d}Z"}
        body = json.dumps(event)
        headers = sign(secret, body, f"msg_{prefix}_{index}")
        headers["Content-Type"] = "application/json"
        requests.append((body.encode(), headers))
    return requests


def _drive(port: int, requests: list[tuple[bytes, dict]], concurrency: int) -> tuple[float, list[float], dict]:
    """Post every request once with ``concurrency`` keep-alive clients: (elapsed, latencies, statuses)."""
    next_index = itertools.count()
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}  # HTTP status, or "error" when no answer came
    lock = threading.Lock()

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        codes: dict[int | str, int] = {}
        while (index := next(next_index)) < len(requests):
            body, headers = requests[index]
            status: int | str = "error"
            for _attempt in (1, 2):
                started = time.perf_counter()
                try:
                    connection.request("POST", PATH, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                    break
                except (http.client.HTTPException, OSError):
                    connection.close()  # e.g. the server closed an idle keep-alive connection: reconnect once
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


@dataclass
class _Totals:
    """One app's requests over every round."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int | str, int] = field(default_factory=dict)


def _summary(elapsed: float, latencies: list[float], statuses: dict) -> dict:
    latencies = sorted(latencies)

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "events": len(latencies),
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(0.50), 2),
        "p99_ms": round(percentile(0.99), 2),
        "statuses": {str(code): n for code, n in sorted(statuses.items(), key=lambda item: str(item[0]))},
    }


def run_intake(*, count: int = 3000, concurrency: int = 16, rounds: int = 5) -> dict:
    """Measure both servers in this run; return the numbers and the ratio seatsync/bare."""
    import multiprocessing

    from adapter.config import new_whsec
    from adapter.store.connection import open_db

    secret = new_whsec()
    rounds = max(1, min(rounds, count))
    with tempfile.TemporaryDirectory(prefix="seatsync-bench-") as tmp:
        database = Path(tmp) / "seatsync.db"
        env = {**os.environ, "SEATSYNC_DATABASE": str(database), "SEATSYNC_PRODUCT_SECRETS": secret,
               "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"), "SEATSYNC_LOG_LEVEL": "warning",
               "PYTHONPATH": str(REPO_ROOT)}
        env.pop("SEATSYNC_ACCESS_LOG", None)
        servers: dict[str, Server] = {}
        totals = {name: _Totals() for name in ("bare", "seatsync")}
        try:
            servers["bare"] = Server("bench.bare_app:create_app()", env)
            servers["seatsync"] = Server("webhooks:create_app()", env)
            for name, server in servers.items():
                _drive(server.port, _signed_requests(WARMUP, secret, f"{name}-warmup"), min(concurrency, WARMUP))
            # Alternate the two in rounds so a noisy moment on the machine hits both alike.
            sizes = [count // rounds + (1 if r < count % rounds else 0) for r in range(rounds)]
            for round_index, size in enumerate(sizes):
                for name, server in servers.items():
                    requests = _signed_requests(size, secret, f"{name}-{round_index}")  # signed before timing
                    elapsed, latencies, statuses = _drive(server.port, requests, concurrency)
                    total = totals[name]
                    total.elapsed += elapsed
                    total.latencies.extend(latencies)
                    for code, n in statuses.items():
                        total.statuses[code] = total.statuses.get(code, 0) + n
        finally:
            for server in servers.values():
                server.stop()
        bare, seatsync = (_summary(totals[name].elapsed, totals[name].latencies, totals[name].statuses)
                          for name in ("bare", "seatsync"))
        db = open_db(database)
        stored = db.execute("SELECT COUNT(*) FROM product_events").fetchone()[0]
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[db.execute("PRAGMA synchronous").fetchone()[0]]
        db.close()
    accepted = seatsync["statuses"].get("202", 0)
    return {
        "benchmark": "intake: signed single events, keep-alive clients, loopback",
        "machine": {"cpus": multiprocessing.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "gunicorn": {"config": GUNICORN_CONF,
                     "workers": load_settings().http_workers,
                     "threads": load_settings().http_threads},
        "concurrency": concurrency,
        "rounds": rounds,
        "bare": bare,
        "seatsync": seatsync,
        "ratio_events_per_second": round(seatsync["events_per_second"] / bare["events_per_second"], 3),
        "durability": {
            "journal_mode": journal,
            "synchronous": synchronous,  # as open_db sets it for every connection, the server's included
            "accepted": accepted,
            "stored_after_run": stored,  # includes the warm-up events
            "every_accepted_event_committed": stored == accepted + WARMUP,
        },
        "target_ratio": 0.5,
    }
