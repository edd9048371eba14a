"""``seatsync deliveries list`` and ``seatsync deliveries retry ID``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adapter import store
from adapter.callbacks import notify
from adapter.cli.main import cli
from tests.conftest import PRODUCT_SECRET, ROTATED_SECRET


@pytest.fixture
def env(tmp_path, monkeypatch, webhook_receiver):
    database = tmp_path / "cli.db"
    monkeypatch.setenv("SEATSYNC_DATABASE", str(database))
    monkeypatch.setenv("SEATSYNC_PRODUCT_SECRETS", PRODUCT_SECRET)
    monkeypatch.setenv("SEATSYNC_PRODUCT_CALLBACK_URL", webhook_receiver.url)
    monkeypatch.setenv("SEATSYNC_PRODUCT_CALLBACK_SECRET", ROTATED_SECRET)
    db = store.open_db(database)
    delivery_id = notify.enqueue_notification(db, "invoice.payment_failed", "acct_acme",
                                              {"provider": "stripe", "invoice": "in_1"}, dedupe_key="k1")
    db.close()
    return database, delivery_id


def test_list_shows_deliveries_and_their_log(env):
    result = CliRunner().invoke(cli, ["deliveries", "list"])
    assert result.exit_code == 0
    assert "invoice.payment_failed" in result.stdout and "acct_acme" in result.stdout and "pending" in result.stdout
    as_json = json.loads(CliRunner().invoke(cli, ["deliveries", "list", "--format", "json"]).stdout)
    assert as_json[0]["body"]["data"]["invoice"] == "in_1" and as_json[0]["log"] == []


def test_retry_sends_now_and_reports(env, webhook_receiver):
    database, delivery_id = env
    webhook_receiver.statuses = [500]
    first = CliRunner().invoke(cli, ["deliveries", "retry", str(delivery_id)])
    assert first.exit_code == 1 and "pending after 1 attempts (last: 500)" in first.stdout
    second = CliRunner().invoke(cli, ["deliveries", "retry", str(delivery_id)])
    assert second.exit_code == 0 and "delivered after 2 attempts" in second.stdout
    assert len(webhook_receiver.accepted()) == 1
    listed = CliRunner().invoke(cli, ["deliveries", "list", "--status", "delivered"])
    assert "delivered" in listed.stdout
    again = CliRunner().invoke(cli, ["deliveries", "retry", str(delivery_id)])
    assert again.exit_code == 0 and "already delivered" in again.stdout


def test_retry_of_an_unknown_delivery_fails_cleanly(env):
    result = CliRunner().invoke(cli, ["deliveries", "retry", "999"])
    assert result.exit_code == 1 and "no delivery 999" in result.stderr
