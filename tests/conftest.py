"""Shared fixtures, Flask-tutorial style: ``settings``, ``app``, ``client``, ``db``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from adapter.config import Settings
from adapter.store.connection import open_db

pytest_plugins = ["tests.support.sandbox_fixtures"]

# In CI a property test explores the same examples every run (a fixed seed per test): a landing must not
# hinge on a lucky draw. Locally the draws stay random, which is how new counterexamples are found.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"

PRODUCT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROTATED_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database=tmp_path / "seatsync.db",
        mappings=REPO_ROOT / "mappings",
        product_secrets=(PRODUCT_SECRET,),
    )


@pytest.fixture
def app(settings):
    from webhooks import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(settings):
    database = open_db(settings.database)
    yield database
    database.close()


@pytest.fixture
def memory_db():
    database = open_db(None)
    yield database
    database.close()
