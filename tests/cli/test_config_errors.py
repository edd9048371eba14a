"""Issue 13 item 8: one line for every configuration error in every mode.

Each malformed setting is tried on ``serve`` (which must refuse before it starts the sandbox or touches the
database), and one malformed setting on every command that reads the settings. The answer is exactly one
line on stderr naming the variable, exit code 2, no traceback, no database created.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from adapter.cli.main import cli

# (variable, bad value) for every validator in adapter/config.py.
BAD = [
    ("SEATSYNC_PRODUCT_SECRETS", "secret"),
    ("SEATSYNC_PRODUCT_SECRETS", "whsec_!!!"),
    ("STRIPE_WEBHOOK_SECRETS", "abc"),
    ("STRIPE_API_BASE", "localhost:12111"),
    ("CHARGEBEE_API_BASE", "ftp://example.com"),
    ("SEATSYNC_OPS_TOKEN", "short"),
    ("CHARGEBEE_WEBHOOK_REFETCH", "perhaps"),
    ("CHARGEBEE_BACKDATING", "2"),
    ("STRIPE_RATE_LIMIT", "fast"),
    ("CHARGEBEE_RATE_LIMIT", "-3"),
    ("SEATSYNC_MAX_FUTURE", "soon"),
    ("SEATSYNC_UNLINKED_EVENTS", "ignore"),
    ("SEATSYNC_LOG_FORMAT", "xml"),
    ("SEATSYNC_LOG_LEVEL", "LOUD"),
    ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics"),
    ("SEATSYNC_RECONCILE_INTERVAL", "5"),
    ("SEATSYNC_WORKERS", "abc"),  # used to reach gunicorn: "Error: invalid literal for int()", after the sandbox
    ("SEATSYNC_WORKERS", "0"),
    ("SEATSYNC_THREADS", "-1"),
    ("SEATSYNC_ACCESS_LOG", "/nonexistent/dir/access.log"),
    ("SEATSYNC_DATABASE", "postgresql://seatsync@db/seatsync"),  # used to create a folder named "postgresql:"
]
# Settings that only fail as a pair: the one named is the one missing.
PAIRS = [
    ({"CHARGEBEE_SITE": "acme"}, "CHARGEBEE_API_KEY"),
    ({"CHARGEBEE_WEBHOOK_PASSWORD": "pw"}, "CHARGEBEE_WEBHOOK_USER"),
    ({"SEATSYNC_PRODUCT_CALLBACK_URL": "http://127.0.0.1:9/cb"}, "SEATSYNC_PRODUCT_CALLBACK_SECRET"),
    ({"SEATSYNC_PRODUCT_CALLBACK_URL": "not a url",
      "SEATSYNC_PRODUCT_CALLBACK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "SEATSYNC_PRODUCT_CALLBACK_URL"),
]
# Every command that loads the settings, with arguments that would otherwise run it.
MODES = [
    ["serve", "--no-worker", "--bind", "127.0.0.1:0", "--sandbox-port", "65500"],
    ["worker", "--once"],
    ["accounts", "list"],
    ["accounts", "show", "demo-standard"],
    ["reconcile"],
    ["doctor"],
    ["db", "status"],
    ["send", "seat.activated", "--account", "a", "--user", "u"],
    ["seats", "demo-standard"],
    ["dead-letters", "list"],
    ["deliveries", "list"],
    ["backfill", "--provider", "stripe"],
    ["preview", "demo-standard", "--add", "1"],
]


def clean_env(tmp_path, **extra: str) -> dict[str, str]:
    """No setting from the machine's environment leaks in: only the ones the test gives."""
    env = {name: "" for name in os.environ
           if name.startswith(("SEATSYNC_", "STRIPE_", "CHARGEBEE_", "PROMETHEUS_"))}
    env["SEATSYNC_DATABASE"] = str(tmp_path / "var" / "seatsync.db")
    return {**env, **extra}


def assert_one_line(result, variable: str, tmp_path) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("seatsync: ") and f"configuration error: {variable}: " in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "var" / "seatsync.db").exists()  # refused before the database was touched


@pytest.mark.parametrize("variable, value", BAD, ids=[f"{v}={x}" for v, x in BAD])
def test_serve_refuses_a_bad_setting_in_one_line(variable, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path anything might create lands here, where the test looks
    result = CliRunner().invoke(cli, MODES[0], env=clean_env(tmp_path, **{variable: value}))
    assert_one_line(result, variable, tmp_path)
    assert not (tmp_path / "postgresql:").exists()


@pytest.mark.parametrize("given, variable", PAIRS, ids=[v for _, v in PAIRS])
def test_serve_refuses_half_a_pair_in_one_line(given, variable, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(CliRunner().invoke(cli, MODES[0], env=clean_env(tmp_path, **given)), variable, tmp_path)


@pytest.mark.parametrize("args", MODES, ids=[" ".join(m[:2]) for m in MODES])
def test_every_command_refuses_a_bad_setting_in_one_line(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args, env=clean_env(tmp_path, SEATSYNC_LOG_LEVEL="LOUD"))
    assert_one_line(result, "SEATSYNC_LOG_LEVEL", tmp_path)


def test_a_sqlite_path_with_a_colon_is_still_a_path(tmp_path):
    from adapter.config import load_settings

    assert load_settings({"SEATSYNC_DATABASE": str(tmp_path / "a:b.db")}).database == tmp_path / "a:b.db"
