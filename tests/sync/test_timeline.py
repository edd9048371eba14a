from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.sync.timeline import Timeline, corrections

S = 1_000_000  # instants are integer microseconds, as seat sync passes them
START = 1775001600 * S  # 2026-04-01 00:00 UTC
END = START + 30 * 86400 * S


def t(day, hour=0):
    return START + ((day - 1) * 86400 + hour * 3600) * S


def test_a_late_event_is_corrected_at_its_own_instant():
    # Truth: A joins on the 5th, B on the 10th. Pushed: only B's change (A's event came late).
    truth = Timeline.from_points(1, [(t(5), 2), (t(10), 3)])
    pushed = Timeline.from_points(1, [(t(10), 2)])
    assert corrections(truth, pushed, START, END) == [(t(5), 1)]


def test_disagreement_at_period_start_is_pushed_at_the_start():
    truth = Timeline.from_points(4, [(START - 12 * 86400 * S, 5)])
    pushed = Timeline.from_points(4, [])
    assert corrections(truth, pushed, START, END) == [(START, 1)]


def test_nothing_to_do_when_they_agree():
    truth = Timeline.from_points(3, [(t(2), 4), (t(9), 2)])
    assert corrections(truth, truth, START, END) == []


def test_steps_outside_the_period_are_ignored_except_through_the_start_value():
    truth = Timeline.from_points(3, [(END + 2 * 86400 * S, 9)])
    assert corrections(truth, Timeline(3), START, END) == []


def integral_seconds(timeline: Timeline, start, end) -> int:
    edges = [start] + timeline.breakpoints(start, end) + [end]
    return sum(timeline.at(a) * (b - a) // S for a, b in zip(edges, edges[1:]))


points = st.lists(st.tuples(st.integers(min_value=-5 * 86400, max_value=35 * 86400),
                            st.integers(min_value=0, max_value=20)), max_size=15)


@settings(max_examples=300, deadline=None)
@given(truth_points=points, pushed_points=points, truth_initial=st.integers(0, 20), pushed_initial=st.integers(0, 20))
def test_pushing_the_corrections_makes_the_money_equal(truth_points, pushed_points, truth_initial, pushed_initial):
    truth = Timeline.from_points(truth_initial, [(START + s * S, q) for s, q in truth_points])
    pushed = Timeline.from_points(pushed_initial, [(START + s * S, q) for s, q in pushed_points])
    fixes = corrections(truth, pushed, START, END)
    # Apply each correction as the provider would: absolute quantity = current + delta, from its instant on.
    corrected = pushed
    for instant, delta in fixes:
        later = [(i, q + delta) for i, q in corrected.steps if i > instant]
        earlier = [(i, q) for i, q in corrected.steps if i < instant]
        corrected = Timeline(corrected.initial, tuple(earlier + [(instant, corrected.at(instant) + delta)] + later))
    assert integral_seconds(corrected, START, END) == integral_seconds(truth, START, END)
    assert corrected.at(END - S) == truth.at(END - S)
    assert all(START <= i < END for i, _ in fixes)
