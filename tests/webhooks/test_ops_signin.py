"""Issue 14 items 1, 2 and 8: signing in to the ops pages from a browser (session cookie, CSRF, rate limit,
safe ``next``), the bearer token still working for scripts and ``/metrics``, and the overview page."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from webhooks import ops_signin

TOKEN = "ops-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def ops_app(settings):
    from webhooks import create_app

    app = create_app(replace(settings, ops_token=TOKEN))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def browser(ops_app):
    return ops_app.test_client()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client, token=TOKEN, next_path=None, headers=None, **kwargs):
    form = client.get("/ops/login", headers=BROWSER).get_data(as_text=True)
    data = {"csrf_token": csrf_of(form), "token": token}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/ops/login", data=data, headers={**BROWSER, **(headers or {})}, **kwargs)


def session_cookie(response) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(f"{ops_signin.COOKIE_NAME}=")]
    assert cookies, response.headers
    return cookies[-1]


def test_a_signed_out_browser_is_sent_to_the_sign_in_with_the_page_as_next(browser):
    for path in ("/ops/", "/ops/reconciliation?kind=unexpected_line", "/ops/accounts/acme"):
        response = browser.get(path, headers=BROWSER)
        assert response.status_code == 303
        target = urlsplit(response.headers["Location"])
        assert target.path == "/ops/login"
        assert parse_qs(target.query)["next"] == [path]
    assert browser.get("/ops", headers=BROWSER).headers["Location"].endswith("/ops/")


@pytest.mark.parametrize("headers", [{}, {"Accept": "application/json"}, {"Accept": "*/*"},
                                     {**BROWSER, "Authorization": "Bearer wrong-token-0123456789"}])
def test_scripts_and_json_without_a_session_still_get_401_problem_json(browser, headers):
    for path in ("/ops/", "/ops/reconciliation", "/ops/reconciliation?format=csv", "/ops/accounts/acme"):
        response = browser.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert browser.get("/ops/reconciliation?format=json", headers=BROWSER).status_code == 401


def test_a_wrong_token_shows_the_form_again_with_401_and_one_warning_without_the_token(browser, caplog):
    with caplog.at_level(logging.WARNING, logger="webhooks.ops_signin"):
        response = sign_in(browser, token="not-the-token-at-all-0000")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert 'id="error"' in html and 'id="login"' in html
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "failed" in warnings[0].getMessage()
    assert "not-the-token-at-all" not in caplog.text and TOKEN not in caplog.text
    assert browser.get("/ops/", headers=BROWSER).status_code == 303  # still signed out


def test_the_right_token_signs_in_with_a_strict_httponly_expiring_cookie(browser):
    response = sign_in(browser)
    assert response.status_code == 303 and response.headers["Location"] == "/ops/"
    cookie = session_cookie(response)
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/ops" in flags
    assert any(flag.startswith("expires=") for flag in flags)
    assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
    page = browser.get("/ops/", headers=BROWSER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="health"' in html and 'id="logout"' in html


def test_the_cookie_is_secure_over_https(browser):
    response = sign_in(browser, environ_overrides={"wsgi.url_scheme": "https"},
                       headers={"Referer": "https://localhost/ops/login"})
    assert response.status_code == 303
    assert "secure" in [part.strip().lower() for part in session_cookie(response).split(";")]


def test_the_session_expires_after_its_hours(browser, monkeypatch):
    sign_in(browser)
    assert browser.get("/ops/", headers=BROWSER).status_code == 200
    later = ops_signin._wall() + ops_signin.SESSION_HOURS * 3600 + 1
    monkeypatch.setattr(ops_signin, "_wall", lambda: later)  # the cookie's own signature is still fresh
    assert browser.get("/ops/", headers=BROWSER).status_code == 303


def test_a_changed_token_signs_everyone_out(ops_app, settings):
    from webhooks import create_app

    client = ops_app.test_client()
    sign_in(client)
    cookie = client.get_cookie(ops_signin.COOKIE_NAME, path="/ops")
    other = create_app(replace(settings, ops_token="another-token-0123456789")).test_client()
    other.set_cookie(ops_signin.COOKIE_NAME, cookie.value, path="/ops")
    assert other.get("/ops/", headers=BROWSER).status_code == 303


def test_sign_out_ends_the_session(browser):
    sign_in(browser)
    page = browser.get("/ops/", headers=BROWSER).get_data(as_text=True)
    response = browser.post("/ops/logout", data={"csrf_token": csrf_of(page)}, headers=BROWSER)
    assert response.status_code == 303 and response.headers["Location"] == "/ops/login"
    assert browser.get("/ops/", headers=BROWSER).status_code == 303


def test_posts_without_the_csrf_token_are_refused(browser):
    response = browser.post("/ops/login", data={"token": TOKEN}, headers=BROWSER)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert "CSRF" in response.get_json()["detail"]
    sign_in(browser)
    assert browser.post("/ops/logout", data={}, headers=BROWSER).status_code == 400
    assert browser.post("/ops/logout", data={"csrf_token": "forged"}, headers=BROWSER).status_code == 400
    assert browser.get("/ops/", headers=BROWSER).status_code == 200  # still signed in


def test_the_webhooks_are_not_subject_to_csrf(browser):
    # An unsigned product webhook is refused for its signature (401), not for a missing CSRF token (400).
    response = browser.post("/webhooks/product", data=b"{}", content_type="application/json")
    assert response.status_code == 401
    assert "CSRF" not in response.get_data(as_text=True)


def test_failed_sign_ins_are_rate_limited_per_address(browser):
    for _ in range(ops_signin.FAILURES_ALLOWED):
        assert sign_in(browser, token="wrong-token-000000000000").status_code == 401
    refused = sign_in(browser)  # even the right token, until the window has passed
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    other = sign_in(browser, environ_overrides={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 303  # another address is not held back


def test_the_failure_window_slides():
    clock = [1000.0]
    counter = ops_signin.FailedSignIns(allowed=2, window=60, clock=lambda: clock[0])
    counter.fail("a")
    counter.fail("a")
    assert counter.retry_after("a") == 60 and counter.retry_after("b") == 0
    clock[0] += 30
    assert counter.retry_after("a") == 30
    clock[0] += 30
    assert counter.retry_after("a") == 0


@pytest.mark.parametrize("next_path", ["https://evil.example/ops/", "//evil.example/ops/", "/\\evil.example",
                                       "/elsewhere", "javascript:alert(1)", "/ops/\r\nSet-Cookie: x=1",
                                       "http:/ops/"])
def test_next_only_goes_to_local_ops_paths(browser, next_path):
    response = sign_in(browser, next_path=next_path)
    assert response.status_code == 303 and response.headers["Location"] == "/ops/"


def test_next_goes_back_to_the_page_asked_for(browser):
    response = sign_in(browser, next_path="/ops/reconciliation?kind=unexpected_line")
    assert response.headers["Location"] == "/ops/reconciliation?kind=unexpected_line"


def test_the_bearer_token_still_works_for_pages_and_metrics(browser):
    assert browser.get("/ops/", headers=AUTH).status_code == 200
    assert browser.get("/ops/reconciliation?format=json", headers=AUTH).status_code == 404  # no run stored yet
    assert browser.get("/metrics", headers=AUTH).status_code == 200
    assert browser.get("/metrics").status_code == 401
    sign_in(browser)
    assert browser.get("/metrics").status_code == 401  # the session cookie is scoped to /ops, metrics to bearer


def test_without_a_token_every_ops_page_and_the_sign_in_are_404(settings):
    from webhooks import create_app

    client = create_app(settings).test_client()
    for path in ("/ops", "/ops/", "/ops/login", "/ops/reconciliation"):
        response = client.get(path, headers=BROWSER)
        assert response.status_code == 404, path
        assert response.get_json()["type"].endswith("ops-disabled")
    assert client.post("/ops/login", data={"token": "x" * 20}).status_code == 404
    assert client.post("/ops/logout").status_code == 404


def test_the_overview_shows_health_and_links(browser):
    sign_in(browser)
    html = browser.get("/ops/", headers=BROWSER).get_data(as_text=True)
    for element in ('id="due-accounts"', 'id="dead-letters"', 'id="notifications-failed"',
                    'id="provider-event-lag"', 'id="last-run"', 'id="no-run"', 'href="/ops/reconciliation"'):
        assert element in html, element
