"""The sandbox's own fidelity tests (run with the rest of the suite; fixtures from tests/support/sandbox_fixtures.py)."""
