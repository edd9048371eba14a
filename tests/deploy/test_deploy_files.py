"""deploy/: every variable seatsync reads is in env.example and documented; the systemd units verify; the
Dockerfile builds from the wheel, runs as a non-root user and checks /readyz."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAME = re.compile(r"^((SEATSYNC|STRIPE|CHARGEBEE)_[A-Z0-9_]+|PROMETHEUS_MULTIPROC_DIR)$")
# Module constants that look like variables but are never read from the environment.
NOT_VARIABLES = {"STRIPE_DEFAULT_API_BASE", "CHARGEBEE_DEFAULT_API_BASE"}
UNITS = ("seatsync.service", "seatsync-worker.service")


def variables_read() -> dict[str, str]:
    """Every string constant naming a SEATSYNC_/STRIPE_/CHARGEBEE_ variable in adapter/, webhooks/ and
    deploy/*.py (where the code reads them: os.environ, env.get, ConfigError names) → first file."""
    found: dict[str, str] = {}
    files = [*ROOT.joinpath("adapter").rglob("*.py"), *ROOT.joinpath("webhooks").rglob("*.py"), *DEPLOY.glob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
                found.setdefault(node.value, str(path.relative_to(ROOT)))
    return {name: where for name, where in found.items() if name not in NOT_VARIABLES}


def example_names() -> set[str]:
    names = set()
    for line in (DEPLOY / "env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_the_scan_finds_the_variables_it_must():
    read = variables_read()
    # config.py's, gunicorn.conf.py's and the CLI's own reads.
    assert {"SEATSYNC_DATABASE", "STRIPE_API_KEY", "CHARGEBEE_WEBHOOK_REFETCH", "SEATSYNC_THREADS",
            "SEATSYNC_LOG_LEVEL", "SEATSYNC_MAPPINGS"} <= set(read)
    assert "_SEATSYNC_COMPLETE" not in read  # click's completion protocol, not a setting


def test_every_variable_read_is_in_env_example_and_documented():
    read = variables_read()
    documented = (ROOT / "README.md").read_text() + (DEPLOY / "README.md").read_text()
    missing_example = sorted(f"{name} ({where})" for name, where in read.items() if name not in example_names())
    undocumented = sorted(f"{name} ({where})" for name, where in read.items() if f"`{name}`" not in documented)
    assert missing_example == []
    assert undocumented == []
    # And nothing in env.example that seatsync does not read (a typo would be silently ignored).
    assert sorted(example_names() - set(read)) == []


def test_env_example_refuses_to_start_until_its_placeholder_secret_is_replaced():
    """Copied as is, start-up stops naming the secret; with a real one every uncommented value is valid."""
    from adapter.config import ConfigError, load_settings, new_whsec

    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    with pytest.raises(ConfigError) as refused:
        load_settings(values)
    assert refused.value.variable == "SEATSYNC_PRODUCT_SECRETS"
    settings = load_settings({**values, "SEATSYNC_PRODUCT_SECRETS": new_whsec()})
    assert str(settings.database) == "/var/lib/seatsync/seatsync.db"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(DEPLOY / name)
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_unit_runs_as_its_own_user_restarts_and_is_hardened(name):
    parsed = unit(name)
    service = parsed["Service"]
    assert service["User"] == "seatsync" and service["Group"] == "seatsync"
    assert service["Restart"] in ("on-failure", "always")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["ProtectHome"] == "yes"
    # The only writable path is the database's directory, which env.example puts there.
    database_dir = "/var/lib/seatsync"
    assert service["ReadWritePaths"] == database_dir and service["StateDirectory"] == "seatsync"
    assert "SEATSYNC_DATABASE=" + database_dir + "/seatsync.db" in (DEPLOY / "env.example").read_text()
    assert service["EnvironmentFile"] == "/etc/seatsync/env"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    command = service["ExecStart"].split()
    assert command[0] == "/opt/seatsync/venv/bin/seatsync"
    assert command[1] == ("serve" if name == "seatsync.service" else "worker")
    if name == "seatsync.service":
        assert "--no-worker" in command  # the worker is its own unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    """systemd's own check; the executable path is pointed at this venv's seatsync, which exists here."""
    seatsync = Path(sys.executable).with_name("seatsync")
    assert seatsync.exists()
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/opt/seatsync/venv/bin/seatsync", str(seatsync))
        (tmp_path / name).write_text(text)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout + run.stderr == ""


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_builds_the_wheel_and_runs_it_as_a_non_root_user_with_a_readyz_healthcheck():
    steps = dockerfile()
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS build") and stages[1].endswith("AS runtime")
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1]:]
    build = steps[:len(steps) - len(runtime)]
    assert any(op == "RUN" and "pip wheel" in args and args.rstrip().endswith(" .") for op, args in build)
    # The runtime installs the wheel only (no source tree copied into it).
    assert not any(op == "COPY" and "--from=build" not in args for op, args in runtime)
    assert any(op == "RUN" and "pip install" in args and "--no-index" in args and "/wheels" in args
               for op, args in runtime)
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    [health] = [args for op, args in runtime if op == "HEALTHCHECK"]
    assert "/readyz" in health
    assert any(op == "ENV" and "SEATSYNC_DATABASE=/var/lib/seatsync/seatsync.db" in args for op, args in runtime)
    assert ("VOLUME", '["/var/lib/seatsync"]') in runtime
