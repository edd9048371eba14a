"""Signing in to the ops pages from a browser (issue 14 items 1 and 8).

A browser cannot send ``Authorization: Bearer``, so ``/ops/login`` takes the ops token in a form (compared in
constant time) and sets a session cookie: Flask's signed session (``itsdangerous``), ``HttpOnly``,
``SameSite=Strict``, ``Secure`` when the request came over HTTPS, scoped to ``/ops``, expiring
``SESSION_HOURS`` after the sign-in (checked on the server too, not only by the cookie's Expires).

The signing key is derived from ``SEATSYNC_OPS_TOKEN`` with HMAC, so every gunicorn worker and replica agrees
on it without another setting, and changing the token signs everyone out.

Every POST under ``/ops`` (sign-in and sign-out) carries a CSRF token (Flask-WTF's ``CSRFProtect``, checked
only by the ops blueprint: the product and provider webhooks are signed and never see it).

Failed sign-ins are counted per client address and refused with 429 after ``FAILURES_ALLOWED`` in
``FAILURE_WINDOW_SECONDS``; each failure is one WARNING log line (address and count, never the token).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

log = logging.getLogger(__name__)

SESSION_HOURS = 8
SESSION_KEY = "ops_signed_in_at"  # Unix seconds of the sign-in
COOKIE_NAME = "seatsync_ops"
FAILURES_ALLOWED = 5
FAILURE_WINDOW_SECONDS = 60
csrf = CSRFProtect()


class _OpsSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` whenever the request itself is HTTPS (``wsgi.url_scheme``,
    which gunicorn sets from ``X-Forwarded-Proto`` for trusted proxies), so plain-HTTP local runs still work."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


class FailedSignIns:
    """Failed sign-ins per client address over a sliding window.

    A small per-process counter rather than Flask-Limiter: only *failed* attempts count (a limiter library
    counts every request unless told otherwise), the app factory builds one app per test and per worker (a
    module-level limiter's decorator binds to one storage), and in-memory storage is what Flask-Limiter would
    use here anyway. Each gunicorn worker counts on its own, so N workers allow up to N x FAILURES_ALLOWED a
    window: still a brute-force bound for a 16+ character token. At most ``MAX_ADDRESSES`` are tracked.
    """

    MAX_ADDRESSES = 10_000

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.allowed, self.window, self.clock = allowed, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            failures = self._recent(address, now)
            if len(failures) < self.allowed:
                return 0
            return max(1, math.ceil(self.window - (now - failures[0])))

    def fail(self, address: str) -> int:
        """Count one failure; how many ``address`` has in the window now."""
        now = self.clock()
        with self._lock:
            failures = self._recent(address, now)
            failures.append(now)
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > self.MAX_ADDRESSES:
                self._failures.popitem(last=False)
            return len(failures)


def session_key(ops_token: str) -> str:
    """The session (and CSRF) signing key: HMAC of a fixed label under the ops token."""
    return hmac.new(ops_token.encode(), b"seatsync ops session v1", hashlib.sha256).hexdigest()


def init_app(app: Flask) -> None:
    settings = app.config["SEATSYNC"]
    if settings.ops_token:
        app.secret_key = session_key(settings.ops_token)
    app.session_interface = _OpsSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME, SESSION_COOKIE_PATH="/ops", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        SESSION_REFRESH_EACH_REQUEST=False,  # the expiry counts from the sign-in, not from the last page
        # CSRF is checked by the ops blueprint only (require_sign_in in webhooks/ops.py), for as long as a
        # session lasts (a page left open for an hour can still sign out).
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600)
    csrf.init_app(app)
    app.extensions["seatsync_ops_failed_signins"] = FailedSignIns()


def _wall() -> float:
    return time.time()


def signed_in() -> bool:
    """A session signed in less than ``SESSION_HOURS`` ago (Flask also refuses a cookie signed longer ago)."""
    at = session.get(SESSION_KEY)
    return isinstance(at, int) and 0 <= _wall() - at < SESSION_HOURS * 3600


def signed_in_at() -> str:
    """When this session signed in (UTC), for the audit trail."""
    at = session.get(SESSION_KEY)
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(at, int) else "unknown"


def check_csrf() -> None:
    """Refuse (400 problem JSON) a state-changing request without a valid CSRF token."""
    csrf.protect()


def wants_html() -> bool:
    """A signed-out browser asking for a page: it is sent to the sign-in instead of a 401. Browsers name
    ``text/html`` in Accept; scripts (``*/*`` or none) and ``format=json|csv`` keep the 401 problem JSON."""
    if request.method not in ("GET", "HEAD"):
        return False
    fmt = request.args.get("format")
    if fmt is not None:
        return fmt == "html"
    return any(value == "text/html" for value, quality in request.accept_mimetypes if quality > 0)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path under ``/ops`` on this host, else the overview."""
    default = url_for("ops.overview")
    if not value or any(c in value for c in "\\\r\n\t") or not value.isprintable():
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return default
    if parts.path != "/ops" and not parts.path.startswith("/ops/"):
        return default
    return value


def login_redirect():
    path = request.full_path if request.query_string else request.path
    return redirect(url_for("ops.login", next=path), code=303)


def _form(error: str | None, status: int, headers: dict[str, str] | None = None):
    next_path = safe_next(request.values.get("next"))
    body = render_template("ops/login.html", error=error, next=next_path)
    return body, status, {"Cache-Control": "no-store", **(headers or {})}


def register(bp: Blueprint) -> None:
    """``GET/POST /ops/login`` and ``POST /ops/logout`` on the ops blueprint."""

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            if signed_in():
                return redirect(safe_next(request.args.get("next")), code=303)
            return _form(None, 200)
        address = request.remote_addr or "unknown"
        limiter: FailedSignIns = current_app.extensions["seatsync_ops_failed_signins"]
        wait = limiter.retry_after(address)
        if wait:
            log.warning("ops sign-in refused from %s: too many failed sign-ins, retry in %d s", address, wait)
            return _form(f"Too many failed sign-ins. Try again in {wait} s.", 429, {"Retry-After": str(wait)})
        given = request.form.get("token", "")
        expected = current_app.config["SEATSYNC"].ops_token
        if not hmac.compare_digest(given.encode(), expected.encode()):
            failures = limiter.fail(address)
            log.warning("ops sign-in failed from %s (%d failed in the last %d s)", address, failures,
                        FAILURE_WINDOW_SECONDS)
            return _form("That is not the ops token.", 401, {"WWW-Authenticate": 'Bearer realm="seatsync-ops"'})
        session.clear()  # a fresh session: nothing from before the sign-in carries over
        session.permanent = True
        session[SESSION_KEY] = int(_wall())
        log.info("ops sign-in from %s", address)
        return redirect(safe_next(request.form.get("next")), code=303)

    @bp.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("ops.login"), code=303)
