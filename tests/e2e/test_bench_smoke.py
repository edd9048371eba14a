"""The intake benchmark runs end to end (tiny count; no speed is asserted)."""

import pytest

pytestmark = pytest.mark.slow


def test_intake_benchmark_runs_and_checks_durability():
    from bench import run_intake

    result = run_intake(count=50, concurrency=4, rounds=2)
    assert result["bare"]["statuses"] == {"202": 50}
    assert result["seatsync"]["statuses"] == {"202": 50}
    assert result["durability"]["every_accepted_event_committed"] is True
    assert result["ratio_events_per_second"] > 0
