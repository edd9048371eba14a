"""End to end through real gunicorn (`seatsync serve`): accepted events survive kill -9 of the server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PRODUCT_SECRET, REPO_ROOT

pytestmark = pytest.mark.slow
SEATSYNC = str(Path(sys.executable).with_name("seatsync"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen([SEATSYNC, "serve", "--bind", f"127.0.0.1:{port}", "--no-worker"], env=env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"seatsync serve exited: {log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            time.sleep(0.1)
    kill(process)
    raise AssertionError("seatsync serve did not answer /healthz within 60 s")


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the gunicorn master and its workers (their own process group), no shutdown hooks."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SEATSYNC, *args], env=env, capture_output=True, text=True, timeout=60)


def test_accepted_events_survive_kill_9_and_restart(tmp_path):
    env = {**os.environ, "SEATSYNC_DATABASE": str(tmp_path / "var" / "seatsync.db"),
           "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"), "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET,
           "SEATSYNC_WORKERS": "2", "SEATSYNC_THREADS": "2",
           # A provider key keeps `serve` from starting the local sandbox: this test is about intake only
           # (and --no-worker means nothing ever calls this address).
           "STRIPE_API_KEY": "sk_test_intake_only", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    process, base = start_server(env, tmp_path / "serve.log")
    try:
        sent = cli(env, "send", "seat.activated", "--account", "acme", "--user", "ann", "--user", "bob",
                   "--at", "2026-03-01T10:00:00Z", "--id", "e", "--url", base + "/webhooks/product")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("HTTP 202")
    finally:
        kill(process)

    process, base = start_server(env, tmp_path / "serve.log")
    try:
        again = cli(env, "send", "seat.activated", "--account", "acme", "--user", "ann", "--user", "bob",
                    "--at", "2026-03-01T10:00:00Z", "--id", "e", "--url", base + "/webhooks/product")
        assert again.returncode == 0, again.stdout + again.stderr
        assert [r["result"] for r in json.loads(again.stdout.split("\n", 1)[1])["results"]] == ["duplicate"] * 2
    finally:
        kill(process)
    seats = cli(env, "seats", "acme", "--at", "2026-03-01T10:00:00Z", "--format", "json")
    assert json.loads(seats.stdout) == {"account": "acme", "at": "2026-03-01T10:00:00Z", "seats": 2,
                                        "users": ["ann", "bob"]}
