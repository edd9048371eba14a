"""First response per (provider, idempotency key), with a fingerprint of the request."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    headers: dict


class IdempotencyStore:
    """First response per (provider, key), with a fingerprint of the request.

    Each provider half decides what a mismatch means (Stripe 400
    ``idempotency_error``, Chargebee 422) and which responses are stored.
    """

    def __init__(self):
        self._records: dict[tuple[str, str], StoredResponse] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(method: str, path: str, params: Any) -> str:
        canonical = json.dumps([method, path, params], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def get(self, provider: str, key: str) -> StoredResponse | None:
        with self._lock:
            return self._records.get((provider, key))

    def put(self, provider: str, key: str, record: StoredResponse) -> None:
        with self._lock:
            self._records.setdefault((provider, key), record)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
