"""Settings from environment variables.

Every setting is read here and nowhere else, so a missing or malformed value
stops start-up with one line that names the variable (see ``ConfigError``).
The README's configuration table documents the same names and defaults.
"""

from __future__ import annotations

import base64
import binascii
import multiprocessing
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
# Provider request budgets (requests per second), a little under the documented limits (adapter/pacing.py).
STRIPE_TEST_RATE = 24.0  # Stripe: 25 operations/s in test mode
STRIPE_LIVE_RATE = 95.0  # 100/s live
CHARGEBEE_RATE = 140 / 60  # Chargebee test sites: 150/min
CHARGEBEE_DEFAULT_API_BASE = "https://{site}.chargebee.com"
LOG_LEVELS = ("info", "debug", "warning", "error")  # the first is the default


def default_http_workers() -> int:
    """gunicorn processes when SEATSYNC_WORKERS is unset: one per CPU, at most 4 (gunicorn_conf.py says why)."""
    return max(1, min(4, multiprocessing.cpu_count()))


def default_mappings() -> Path:
    """The policies shipped with seatsync (``mappings/`` in a checkout, ``seatsync_mappings`` when installed):
    found from the package, so an installed seatsync does not depend on the working directory."""
    from importlib.resources import files

    return Path(str(files("seatsync_mappings")))


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, reason: str):
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


@dataclass(frozen=True)
class Settings:
    database: Path = Path("./var/seatsync.db")
    mappings: Path = field(default_factory=default_mappings)
    product_secrets: tuple[str, ...] = ()
    stripe_api_key: str | None = None
    stripe_api_base: str = STRIPE_DEFAULT_API_BASE
    stripe_webhook_secrets: tuple[str, ...] = ()
    chargebee_site: str | None = None
    chargebee_api_key: str | None = None
    chargebee_api_base: str | None = None
    chargebee_webhook_user: str | None = None
    chargebee_webhook_password: str | None = None
    chargebee_refetch_events: bool = False
    chargebee_backdating: bool = False
    # Requests per second allowed per key (adapter/pacing.py); None: no pacing. load_settings fills the
    # providers' documented limits when the variables are unset.
    stripe_rate_limit: float | None = None
    chargebee_rate_limit: float | None = None
    ops_token: str | None = None
    product_callback_url: str | None = None
    product_callback_secret: str | None = None
    max_future: float = 300.0  # seconds an event's occurred_at may be ahead of the server's clock
    unlinked_events: str = "accept"  # seat events of accounts never linked: accept (and notify) | reject
    log_format: str = "text"  # text: one human line per record | json: one JSON object per line
    log_level: str = "info"
    # prometheus_client's multiprocess folder: every gunicorn worker and the sync worker write their metrics
    # here and /metrics adds them up; None: this process's metrics only (tests, one-off commands).
    metrics_dir: Path | None = None
    # Seconds between the worker's stored reconcile runs (adapter/reconcile/runs.py); 0: no scheduled run.
    reconcile_interval: float = 3600.0
    # gunicorn's shape (webhooks/gunicorn_conf.py): validated here so a typo stops start-up with one line
    # before serve starts the sandbox, instead of gunicorn's bare "invalid literal for int()".
    http_workers: int = field(default_factory=default_http_workers)
    http_threads: int = 16
    access_log: str | None = None  # a file, or "-" for stderr; None: no access log

    @property
    def has_provider_keys(self) -> bool:
        return bool(self.stripe_api_key or self.chargebee_api_key)


def _count(variable: str, raw: str | None, default: int, maximum: int) -> int:
    """A whole number from 1 to ``maximum``."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(variable, f"must be a whole number, got {raw!r}") from None
    if not 1 <= value <= maximum:
        raise ConfigError(variable, f"must be from 1 to {maximum}, got {raw!r}")
    return value


def _log_file(variable: str, raw: str | None) -> str | None:
    """``-`` (stderr) or a file in an existing directory."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if value != "-" and not Path(value).expanduser().parent.is_dir():
        raise ConfigError(variable, f"must be '-' (stderr) or a file in an existing directory, got {raw!r}")
    return value


# A URL where a path is expected: ``postgresql://…`` used to create a folder named ``postgresql:``.
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _database(raw: str | None) -> Path:
    """The SQLite file's path; a URL (another database) is refused, not taken as a folder name."""
    if raw is None or not raw.strip():
        return Path("./var/seatsync.db")
    if _URL_SCHEME.match(raw.strip()):
        scheme = raw.strip().split(":", 1)[0]
        raise ConfigError("SEATSYNC_DATABASE", f"must be the path of an SQLite file; {scheme}:// URLs are not "
                                               "supported by this version")
    return Path(raw)


def _secret_list(variable: str, raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return ()
    secrets_ = tuple(part.strip() for part in raw.split(",") if part.strip())
    for secret in secrets_:
        validate_whsec(variable, secret)
    return secrets_


def validate_whsec(variable: str, secret: str) -> None:
    """Standard Webhooks secrets are ``whsec_`` + base64 of 24-64 random bytes."""
    if not secret.startswith("whsec_"):
        raise ConfigError(variable, "each secret must start with 'whsec_'")
    body = secret[len("whsec_"):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(variable, "the part after 'whsec_' is not valid base64") from None
    if not 24 <= len(raw) <= 64:
        raise ConfigError(variable, f"a secret must decode to 24-64 bytes, got {len(raw)}")


def _url(variable: str, raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    parsed = urlparse(raw.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(variable, f"must be an http(s) URL, got {raw!r}")
    return raw.strip().rstrip("/")


def _stripe_webhook_secrets(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return ()
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    for value in values:
        if not value.startswith("whsec_"):
            raise ConfigError("STRIPE_WEBHOOK_SECRETS", "each secret must start with 'whsec_'")
    return values


def _flag(variable: str, raw: str | None) -> bool:
    if raw is None or not raw.strip():
        return False
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"must be true or false, got {raw!r}")


def _pair(environ: Mapping[str, str], first: str, second: str) -> None:
    if bool(environ.get(first)) != bool(environ.get(second)):
        missing = second if environ.get(first) else first
        present = first if environ.get(first) else second
        raise ConfigError(missing, f"must be set together with {present}")


def _rate(variable: str, raw: str | None, default: float | None, per: float) -> float | None:
    """A request rate from ``raw`` (per ``per`` seconds); ``0``/``off`` turns pacing off."""
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("0", "off", "none"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(variable, f"must be a number of requests, got {raw!r}") from None
    if not 0 < value < 1_000_000:
        raise ConfigError(variable, "must be a positive number of requests")
    return value / per


def _choice(variable: str, raw: str | None, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default)."""
    if raw is None or not raw.strip():
        return choices[0]
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(variable, f"must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _seconds(variable: str, raw: str | None, default: float) -> float:
    """A non-negative number of seconds (at most a year)."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(variable, f"must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 366 * 86400:  # NaN fails both comparisons
        raise ConfigError(variable, "must be between 0 and 31622400 seconds")
    return value


def _directory(variable: str, raw: str | None) -> Path | None:
    """An existing, writable directory (prometheus_client writes its files there and does not create it)."""
    if raw is None or not raw.strip():
        return None
    path = Path(raw.strip())
    if not path.is_dir():
        raise ConfigError(variable, f"must be an existing directory, got {raw!r}")
    if not os.access(path, os.W_OK):
        raise ConfigError(variable, f"the directory {raw!r} is not writable")
    return path


def _interval(variable: str, raw: str | None, default: float, minimum: float) -> float:
    """Seconds between runs of a scheduled task: ``0`` (off) or from ``minimum`` up to a year."""
    value = _seconds(variable, raw, default)
    if 0 < value < minimum:
        raise ConfigError(variable, f"must be 0 (off) or at least {minimum:g} seconds, got {raw!r}")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ``ConfigError`` on the first problem."""
    env = os.environ if environ is None else environ
    _pair(env, "CHARGEBEE_SITE", "CHARGEBEE_API_KEY")
    _pair(env, "CHARGEBEE_WEBHOOK_USER", "CHARGEBEE_WEBHOOK_PASSWORD")
    _pair(env, "SEATSYNC_PRODUCT_CALLBACK_URL", "SEATSYNC_PRODUCT_CALLBACK_SECRET")
    callback_secret = env.get("SEATSYNC_PRODUCT_CALLBACK_SECRET") or None
    if callback_secret:
        validate_whsec("SEATSYNC_PRODUCT_CALLBACK_SECRET", callback_secret)
    ops_token = env.get("SEATSYNC_OPS_TOKEN") or None
    if ops_token is not None and len(ops_token) < 16:
        raise ConfigError("SEATSYNC_OPS_TOKEN", "must be at least 16 characters")
    return Settings(
        database=_database(env.get("SEATSYNC_DATABASE")),
        mappings=Path(env.get("SEATSYNC_MAPPINGS") or default_mappings()),
        product_secrets=_secret_list("SEATSYNC_PRODUCT_SECRETS", env.get("SEATSYNC_PRODUCT_SECRETS")),
        stripe_api_key=env.get("STRIPE_API_KEY") or None,
        stripe_api_base=_url("STRIPE_API_BASE", env.get("STRIPE_API_BASE")) or STRIPE_DEFAULT_API_BASE,
        stripe_webhook_secrets=_stripe_webhook_secrets(env.get("STRIPE_WEBHOOK_SECRETS")),
        chargebee_site=env.get("CHARGEBEE_SITE") or None,
        chargebee_api_key=env.get("CHARGEBEE_API_KEY") or None,
        chargebee_api_base=_url("CHARGEBEE_API_BASE", env.get("CHARGEBEE_API_BASE")),
        chargebee_webhook_user=env.get("CHARGEBEE_WEBHOOK_USER") or None,
        chargebee_webhook_password=env.get("CHARGEBEE_WEBHOOK_PASSWORD") or None,
        chargebee_refetch_events=_flag("CHARGEBEE_WEBHOOK_REFETCH", env.get("CHARGEBEE_WEBHOOK_REFETCH")),
        chargebee_backdating=_flag("CHARGEBEE_BACKDATING", env.get("CHARGEBEE_BACKDATING")),
        stripe_rate_limit=_rate("STRIPE_RATE_LIMIT", env.get("STRIPE_RATE_LIMIT"),
                                STRIPE_TEST_RATE if (env.get("STRIPE_API_KEY") or "").startswith("sk_test")
                                else STRIPE_LIVE_RATE, 1.0),
        chargebee_rate_limit=_rate("CHARGEBEE_RATE_LIMIT", env.get("CHARGEBEE_RATE_LIMIT"), CHARGEBEE_RATE, 60.0),
        ops_token=ops_token,
        product_callback_url=_url("SEATSYNC_PRODUCT_CALLBACK_URL", env.get("SEATSYNC_PRODUCT_CALLBACK_URL")),
        product_callback_secret=callback_secret,
        max_future=_seconds("SEATSYNC_MAX_FUTURE", env.get("SEATSYNC_MAX_FUTURE"), 300.0),
        unlinked_events=_choice("SEATSYNC_UNLINKED_EVENTS", env.get("SEATSYNC_UNLINKED_EVENTS"), ("accept", "reject")),
        log_format=_choice("SEATSYNC_LOG_FORMAT", env.get("SEATSYNC_LOG_FORMAT"), ("text", "json")),
        log_level=_choice("SEATSYNC_LOG_LEVEL", env.get("SEATSYNC_LOG_LEVEL"), LOG_LEVELS),
        metrics_dir=_directory("PROMETHEUS_MULTIPROC_DIR", env.get("PROMETHEUS_MULTIPROC_DIR")),
        reconcile_interval=_interval("SEATSYNC_RECONCILE_INTERVAL", env.get("SEATSYNC_RECONCILE_INTERVAL"), 3600.0,
                                     60.0),
        http_workers=_count("SEATSYNC_WORKERS", env.get("SEATSYNC_WORKERS"), default_http_workers(), 64),
        http_threads=_count("SEATSYNC_THREADS", env.get("SEATSYNC_THREADS"), 16, 256),
        access_log=_log_file("SEATSYNC_ACCESS_LOG", env.get("SEATSYNC_ACCESS_LOG")),
    )


def new_whsec() -> str:
    """A fresh Standard Webhooks secret (32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def embedded_product_secret(database: Path) -> str:
    """The embedded setup's product secret: generated once next to the database.

    ``make run`` must work with no configuration, yet the intake endpoint must
    never accept unsigned events. So when SEATSYNC_PRODUCT_SECRETS is unset,
    ``seatsync serve`` and ``seatsync send`` share a secret kept in
    ``<database dir>/product-secret`` (mode 0600).
    """
    path = database.parent / "product-secret"
    if path.exists():
        secret = path.read_text().strip()
        validate_whsec(str(path), secret)
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_whsec()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def with_embedded_defaults(settings: Settings) -> Settings:
    """Fill the product secret for the embedded setup when none is configured."""
    if settings.product_secrets:
        return settings
    from dataclasses import replace

    try:
        secret = embedded_product_secret(settings.database)
    except OSError as exc:  # the database's directory cannot be written: one line, not a traceback
        raise ConfigError("SEATSYNC_DATABASE", f"cannot keep the product secret next to the database "
                                               f"({settings.database.parent}): {exc.strerror or exc}") from None
    return replace(settings, product_secrets=(secret,))
