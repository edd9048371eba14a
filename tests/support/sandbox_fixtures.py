"""pytest fixtures that run the provider sandbox on a free loopback port.

Registered from ``tests/conftest.py`` via ``pytest_plugins``. Fixtures:

- ``sandbox_server`` (session): one threaded werkzeug server per test session;
  ``.url``, ``.port``, ``.world``, ``.app``. Stripe's 25 requests/s limit is
  off here (``TEST_CONFIG``); every other default is Stripe's.
- ``sandbox`` (function): the same server with the world reset before the test.
- ``stripe_client``: ``stripe.StripeClient`` pointed at the sandbox.
- ``chargebee_client``: ``chargebee.Chargebee`` pointed at the sandbox.
- ``webhook_receiver``: a local HTTP server that records webhook POSTs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.sandbox.app import create_app
from tests.sandbox.core import World


@dataclass
class RunningSandbox:
    url: str
    port: int
    app: object
    world: World
    _server: object = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self.world.close()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def start_sandbox(config: dict | None = None, host: str = "127.0.0.1") -> RunningSandbox:
    """Start a sandbox on a free port in a daemon thread (port 0 = OS picks)."""
    app = create_app(config)
    server = make_server(host, 0, app, threaded=True, request_handler=_QuietHandler)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{port}", daemon=True)
    thread.start()
    return RunningSandbox(f"http://{host}:{port}", port, app, app.extensions["sandbox_world"], server, thread)


# Stripe's 25 requests/s would make fast tests fail by speed; tests that check
# the limiter set it explicitly through /_sandbox/stripe/limits.
TEST_CONFIG = {"stripe_limits": {"requests_per_second": None}}


def pool_chargebee_http() -> None:
    """chargebee-python opens a new ``httpx.Client`` for every request (docs/chargebee.md#sdk-quirks), which
    loads a CA bundle each time: about 25 ms of CPU per request. Against the plain-http sandbox the
    same request through one pooled client is the same bytes on the wire, twenty times cheaper; HTTPS
    requests (none in tests) keep the SDK's own path."""
    import chargebee.http_request as chargebee_http
    import httpx

    if getattr(chargebee_http._make_request, "pooled", False):
        return
    original = chargebee_http._make_request
    client = httpx.Client(verify=False)

    def pooled(request_args):
        if not str(request_args.get("url", "")).startswith("http://"):
            return original(request_args)
        request_args.pop("verify", None)
        return chargebee_http._handle_response(request_args, client.request(**request_args))

    pooled.pooled = True
    chargebee_http._make_request = pooled


@pytest.fixture(scope="session")
def sandbox_server():
    pool_chargebee_http()
    running = start_sandbox(TEST_CONFIG)
    yield running
    running.stop()


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.world.reset()
    yield sandbox_server
    sandbox_server.world.webhooks.reset()


@pytest.fixture
def stripe_client(sandbox):
    import stripe

    return stripe.StripeClient("sk_test_sandbox", base_addresses={"api": sandbox.url})


@pytest.fixture
def chargebee_client(sandbox):
    from chargebee import Chargebee

    # chargebee-python builds "{protocol}://{site}.{domain}/api/v2", and sends
    # HTTPS unless the class-level verify_ca_certs is off (see
    # docs/chargebee.md#sdk-quirks); this is test-only and process-wide.
    Chargebee.verify_ca_certs = False
    return Chargebee(api_key="test_sandbox", site="127", chargebee_domain=f"0.0.1:{sandbox.port}", protocol="http")


class WebhookReceiver:
    """Records every POST (path, headers, raw body); answers ``statuses`` in turn, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def accepted(self) -> list[dict]:
        """Deliveries answered 2xx, with the body parsed as JSON."""
        with self._lock:
            return [r | {"json": json.loads(r["body"])} for r in self.received if 200 <= r["status"] < 300]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


# ------------------------------------------------------------ Stripe helpers


def stripe_customer_on_clock(client, frozen_time: int, payment_method: str = "pm_card_visa", **extra):
    """A test clock frozen at ``frozen_time`` and a customer attached to it."""
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": frozen_time})
    customer = client.v1.customers.create({"test_clock": clock.id, "payment_method": payment_method, **extra})
    return clock, customer


def stripe_price(client, name: str, unit_amount: int, interval: str = "month"):
    """A product named ``name`` and a per-unit recurring USD price for it."""
    product = client.v1.products.create({"name": name})
    return client.v1.prices.create({"product": product.id, "unit_amount": unit_amount, "currency": "usd",
                                    "recurring": {"interval": interval}})
