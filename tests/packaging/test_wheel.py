"""The wheel, installed into a fresh venv outside the repository, runs seatsync on its own (issue 13, item 1).

The source is copied to a temporary folder and built there (the checkout gets no build/ folder), the wheel is
installed into a new venv with pip's ordinary configuration, and every command runs from another temporary
folder with no PYTHONPATH: whatever the wheel leaves out (ops templates, gunicorn settings, the default
mappings, the sandbox) fails here, as it would for a platform team.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OPS_TOKEN = "wheel-smoke-ops-token-0123456789"
IGNORED = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".mypy_cache",
                                 ".ruff_cache", ".pytest_cache", ".hypothesis")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv holding only the wheel and its dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORED)
    wheels = root / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("seatsync-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_", "PYTHON", "VIRTUAL_ENV"))}
    return {**clean, "SEATSYNC_DATABASE": str(tmp_path / "var" / "seatsync.db"), "SEATSYNC_OPS_TOKEN": OPS_TOKEN}


def _run(bin_: Path, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60):
    return subprocess.run([str(bin_ / "seatsync"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_packages_come_from_the_venv_not_the_checkout(installed, tmp_path, env):
    where = subprocess.run([str(installed / "python"), "-c",
                            "import adapter, webhooks, seatsync_sandbox, seatsync_mappings, importlib.util;"
                            "print(adapter.__file__, webhooks.__file__, seatsync_sandbox.__file__,"
                            " seatsync_mappings.__file__); print(importlib.util.find_spec('tests'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    files, tests_spec = where.stdout.splitlines()
    assert all(str(installed.parent) in f and str(REPO) not in f for f in files.split()), files
    assert tests_spec == "None"  # the sandbox runs without the repository's tests/ package


def test_version_and_policies_from_the_embedded_default_and_from_seatsync_mappings(installed, tmp_path, env):
    version = _run(installed, ["--version"], env, tmp_path)
    assert version.returncode == 0 and "seatsync, version 0.1.0" in version.stdout, version.stdout + version.stderr

    shipped = _run(installed, ["policies", "check"], env, tmp_path)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "seatsync_mappings" in shipped.stdout and "ok: 20 plans" in shipped.stdout

    mine = tmp_path / "my-mappings"
    mine.mkdir()
    text = (REPO / "mappings" / "standard_premium.toml").read_text()
    (mine / "plans.toml").write_text(text)
    good = _run(installed, ["policies", "check"], {**env, "SEATSYNC_MAPPINGS": str(mine)}, tmp_path)
    assert good.returncode == 0 and "plans.toml: 4 plans" in good.stdout and "ok: 4 plans" in good.stdout, good.stdout
    (mine / "plans.toml").write_text(text.replace('currency = "USD"', 'currency = "usd"', 1))
    bad = _run(installed, ["policies", "check"], {**env, "SEATSYNC_MAPPINGS": str(mine)}, tmp_path)
    errors = bad.stdout + bad.stderr
    assert bad.returncode == 1 and "plans.toml: plan standard-monthly: key currency" in errors, errors


def test_serve_takes_a_signed_seat_event_to_the_sandbox_and_serves_the_ops_page(installed, tmp_path, env):
    port, sandbox_port = _free_port(), _free_port()
    server = subprocess.Popen([str(installed / "seatsync"), "serve", "--bind", f"127.0.0.1:{port}",
                               "--sandbox-port", str(sandbox_port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        def healthy():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
            except OSError:
                return server.poll() is not None and pytest.fail(server.stdout.read() if server.stdout else "")

        _wait_for(healthy, 60, "seatsync serve")
        sent = _run(installed, ["send", "seat.activated", "--account", "demo-standard", "--user", "alice"], env,
                    tmp_path)
        assert sent.returncode == 0 and "HTTP 202" in sent.stdout, sent.stdout + sent.stderr

        def pushed():
            shown = _run(installed, ["accounts", "show", "demo-standard", "--format", "json"], env, tmp_path)
            return shown.returncode == 0 and json.loads(shown.stdout)["sync"]["pushed"] == 11

        _wait_for(pushed, 60, "the seat change at the provider")
        def page(query: str = "") -> str:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/ops/reconciliation{query}",
                                             headers={"Authorization": f"Bearer {OPS_TOKEN}"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
                return answer.read().decode()

        # The page shows the run the worker stored when it started (SEATSYNC_RECONCILE_INTERVAL's first run)...
        _wait_for(lambda: 'id="run">Stored run' in page(), 60, "the worker's stored reconcile run")
        assert "(scheduled), finished" in page()
        # ...and one account is checked live.
        assert "Checked live: account demo-standard" in page("?account=demo-standard")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
