"""The one place a provider name becomes an object.

Everything outside ``adapter/providers/`` asks this module for a provider by the name an account,
a plan or a webhook carries, and then only calls the ``Provider`` interface (``base.py``). A third
provider is one more package and one more line in ``NAMES``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from adapter.providers.base import Lifecycle, Provider, SeatClient

NAMES = ("stripe", "chargebee")
_loaded: dict[str, Provider] = {}


class UnknownProvider(ValueError, LookupError):
    pass


def get(name: str) -> Provider:
    """The provider called ``name`` (``UnknownProvider`` if seatsync has none by that name)."""
    if name not in NAMES:
        raise UnknownProvider(f"unknown provider {name!r}; seatsync knows {', '.join(NAMES)}")
    if name not in _loaded:
        _loaded[name] = import_module(f"adapter.providers.{name}").PROVIDER
    return _loaded[name]


def providers() -> list[Provider]:
    return [get(name) for name in NAMES]


def seat_clients(settings: Any) -> dict[str, SeatClient]:
    """A seat client for every provider whose keys are configured (an account on an unconfigured one is
    dead-lettered with that reason)."""
    return {p.name: p.seat_client(settings) for p in providers() if p.configured(settings)}


def lifecycle(row: dict | None) -> Lifecycle | None:
    """A mirrored subscription row's lifecycle, read by its provider from the raw object; None: not mirrored."""
    if row is None:
        return None
    import json

    return get(row["provider"]).normalize.lifecycle(json.loads(row["raw"]))
