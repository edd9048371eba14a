"""Issue 13 item 8: serve on a taken port refuses in one line and leaves the database and session untouched."""

import socket

from click.testing import CliRunner

from adapter.cli.main import cli


def test_serve_on_a_taken_port_refuses_before_touching_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("CHARGEBEE_API_KEY", raising=False)
    database = tmp_path / "var" / "seatsync.db"
    monkeypatch.setenv("SEATSYNC_DATABASE", str(database))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--bind", f"127.0.0.1:{port}"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port} is taken" in lines[0], result.output
    # get_settings may create the folder; the database and the session file must not exist.
    assert not database.exists()
    assert not list((tmp_path / "var").rglob("session.json"))
