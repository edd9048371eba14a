"""What a provider does for seatsync, declared once; ``stripe/`` and ``chargebee/`` implement it.

seatsync talks to a provider in four places: the billing engine prices changes the way the provider
prorates them (``BillingStyle``); seat sync reads a subscription, dates and sends its quantity calls
(``Grid``, ``SubscriptionState``, ``CallSpec`` and the ``Provider`` methods that build them); the
callbacks normalize the provider's objects and events for the mirror; reconciliation knows which
invoice statuses still owe money. Everything provider-specific lives behind this interface, so adding
a provider is one new package plus one line in ``registry.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from adapter.clock import from_us, to_us

if TYPE_CHECKING:  # policy types only: the interface imports no feature package at run time
    from adapter.billing.periods import Period
    from adapter.billing.policy import Addon, Plan

SECOND_US = 1_000_000
MS_US = 1_000
UTC = dt.UTC


def local_midnight_us(instant_us: int, timezone: str) -> int:
    """00:00 local time of the day containing ``instant_us`` (a midnight lost to DST: the day's first instant)."""
    zone = ZoneInfo(timezone)
    local = from_us(instant_us).astimezone(zone)
    midnight = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    result = to_us(midnight.astimezone(UTC))
    # A wall midnight that does not exist resolves forward into the day, never into the previous one.
    return result if result <= instant_us else to_us(midnight.replace(fold=1).astimezone(UTC))


def local_date(instant_us: int, timezone: str) -> dt.date:
    return from_us(instant_us).astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class Grid:
    """How one provider dates a quantity change and measures the part of the period left after it.

    ``dating``: ``second`` (Stripe ``proration_date``; Chargebee ``changes_scheduled_at``), ``day`` (the
    local day's start: day-based policies), or ``now`` (the provider applies a change when it is made).
    ``unit``: the measure's unit (Stripe prorates seconds; Chargebee milliseconds or whole local days).
    ``monotonic``: dates may not go back from one call to the next (Chargebee: "after the last item change").
    """

    dating: Literal["second", "day", "now"]
    unit: Literal["second", "millisecond", "day"]
    period_start_us: int
    period_end_us: int
    earliest_us: int
    latest_us: int
    timezone: str = "UTC"
    monotonic: bool = False

    def snap(self, instant_us: int) -> int:
        """The instant the provider would record for a change at ``instant_us``."""
        if self.dating == "day" or self.unit == "day":
            return local_midnight_us(instant_us, self.timezone)
        if self.dating == "second" or self.unit == "second":
            return instant_us - instant_us % SECOND_US
        return instant_us - instant_us % MS_US

    def measure(self, instant_us: int) -> int:
        """The remaining part of the period after a change dated ``instant_us``, in ``unit``."""
        if self.unit == "day":
            last_day = local_date(self.period_end_us - 1, self.timezone)
            return (last_day - local_date(instant_us, self.timezone)).days + 1
        if self.unit == "second":
            return (self.period_end_us - instant_us) // SECOND_US
        return (self.period_end_us - instant_us) // MS_US




class TranslateError(Exception):
    """The policy asks for something this provider cannot do; permanent, so it is dead-lettered."""


@dataclass(frozen=True)
class Lifecycle:
    """Where a subscription stands in its life, read from the provider's object (the mirror's ``raw``).

    ``state``: ``active``; ``cancelling`` (a cancellation scheduled at ``at_us``: it still bills until
    then); ``cancelled`` (ended at ``at_us``); ``pausing`` (a pause scheduled at ``at_us``); ``paused``
    (since ``at_us`` when the provider says, until ``resumes_us`` if scheduled). Seat sync writes to a
    subscription only while it is ``active``, ``cancelling`` or ``pausing``.
    """

    state: Literal["active", "cancelling", "cancelled", "pausing", "paused"]
    at_us: int | None = None
    resumes_us: int | None = None

    @property
    def writable(self) -> bool:
        return self.state not in ("cancelled", "paused")


@dataclass(frozen=True)
class SubscriptionState:
    """What the provider says about a subscription right now, normalised across providers."""

    provider: str
    subscription: str
    customer: str
    status: str
    period_start_us: int
    period_end_us: int
    quantity: int | None
    seat_item: str | None  # Stripe: si_…; Chargebee: the item price id
    seat_price: str | None
    base_item: str | None = None
    base_price: str | None = None
    addon_items: dict[str, str] = field(default_factory=dict)  # price id → item id (Stripe) or price id
    now_us: int | None = None  # the provider's clock when it differs from ours (a Stripe test clock)
    lifecycle: Lifecycle | None = None  # cancelled or paused: seat sync writes nothing (sync/lifecycle.py)
    scheduled_change: bool = False  # a change waits for the term end (Chargebee has_scheduled_changes)
    # The account the subscription's metadata names (``seatsync_account``; Chargebee: ``meta_data``);
    # None: unclaimed. Seat sync writes only when it names the account being synced.
    owner: str | None = None


@dataclass(frozen=True)
class CallSpec:
    """One provider write, before an idempotency key is attached."""

    kind: str  # quantity | plan | addons | threshold
    operation: str
    target: str
    params: dict
    quantity: int | None = None
    effective_us: int | None = None



@dataclass(frozen=True)
class Item:
    """One priced subscription item as the billing engine sees it (seats, base fee, an addon)."""

    key: str
    name: str
    kind: str
    price_id: str
    unit_amount: int
    quantity: int
    proration: str  # partial_term | full_term | none


class BillingStyle(Protocol):
    """How a provider turns a change into invoice lines: the billing engine's strategy."""

    nets_quantity_changes: bool  # one line for a quantity difference (Chargebee) or a credit/debit pair

    def cycle_timezone(self, account_timezone: str) -> str:
        """The timezone billing periods step in."""

    def day_based_terms(self, granularity: str) -> bool:
        """Whether terms start at local midnight."""

    def effective(self, granularity: str, at: dt.datetime, period: Period,
                  timezone: str) -> tuple[dt.datetime, str]:
        """The instant the provider prorates a change at ``at`` from, and how it counts the rest."""

    def term_start(self, start: dt.datetime) -> dt.datetime:
        """Where a new term (an interval switch) starts, as the provider records it."""

    def describe_proration(self, credit: bool, item: Item, quantity: int, start: dt.datetime,
                           end: dt.datetime, timezone: str) -> str: ...

    def describe_full(self, item: Item, currency: str, interval: str) -> str: ...


class SeatClient(Protocol):
    """A configured provider's seat operations (the official SDK behind it)."""

    name: str

    def read(self, subscription: str, catalog: Any) -> SubscriptionState: ...

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict]: ...

    def claim(self, subscription: str, account: str, idempotency_key: str) -> None:
        """Write ``seatsync_account = account`` into the subscription's metadata, keeping its other keys."""
        ...

    def clocks(self) -> ClockReader:
        """A reader of the provider's clock per subscription (``SubscriptionState.now_us`` without the rest of
        the read), each clock read once per reader: make one per reconcile run."""
        ...


# A subscription's provider clock, in µs, when it differs from ours (a Stripe test clock, a Chargebee time
# machine), else None: (subscription id, its mirrored raw object or None) -> instant.
ClockReader = Callable[[str, "dict | None"], "int | None"]


class Provider(Protocol):
    """A billing provider, as seatsync needs it. Attributes are facts of the provider (docs/)."""

    name: str
    display_name: str
    # Policy: what mappings/ may ask of this provider.
    granularities: tuple[str, ...]
    zero_seat_rules: tuple[str, ...]
    zero_seats_required: bool  # the provider refuses quantity 0, so a plan must say what to do instead
    minimum_quantity: int
    billing: BillingStyle
    # Seat sync.
    quantity_updates_per_hour: int | None
    plan_changes_dated: bool  # a plan change carries its own date (else it applies at the provider's now)
    # Reconciliation.
    unpaid_statuses: tuple[str, ...]
    credits_issued_at_change: bool  # a proration credit is its own document when the change is made
    line_end_slack_seconds: int  # a line's shown end may be this much before the period's end
    reshapes_open_charges: bool  # a later change voids and reissues open charges (same money, other lines)
    # Callbacks.
    sweep_overlap_seconds: int
    normalize: Any  # the module that turns the provider's objects into mirror rows (``<name>/normalize.py``)
    events: Any  # the module that reads its webhook events and says what they mean (``<name>/events.py``)
    # (its ``lifecycle(obj) -> Lifecycle`` reads cancellation and pause from a subscription object)

    def demo_advance(self, settings: Any, subscriptions: list[str], to_s: int) -> list[str]: ...

    def demo_set_quantity(self, settings: Any, state: SubscriptionState, quantity: int) -> None: ...

    def sandbox_settings(self, plans: list) -> dict[str, dict]: ...

    def configured(self, settings: Any) -> bool: ...

    def doctor(self, settings: Any, catalog: Any, url: str | None) -> list[Any]:
        """``seatsync doctor``'s findings (``adapter/providers/doctor.py`` ``Finding``); raises ``CannotCheck``."""

    def amount_owed(self, invoice: dict) -> int:
        """What a mirrored invoice row still owes."""

    def seat_client(self, settings: Any) -> SeatClient: ...

    def grid(self, plan: Plan, state: SubscriptionState, timezone: str, *, period_start_us: int,
             provider_now_us: int, backdating: bool, last_change_us: int) -> Grid: ...

    def quantity_call(self, plan: Plan, state: SubscriptionState, *, old: int, new: int, effective_us: int,
                      backdate_us: int | None) -> CallSpec: ...

    def plan_change_call(self, old_plan: Plan, new_plan: Plan, state: SubscriptionState, *, quantity: int,
                         effective_us: int, timezone: str | None) -> CallSpec: ...

    def after_plan_change(self, state: SubscriptionState, new_plan: Plan,
                          timezone: str | None) -> SubscriptionState: ...

    def addons_call(self, plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *,
                    enabled: tuple[str, ...], seats: int, effective_us: int,
                    timezone: str | None) -> CallSpec | None: ...

    def threshold_call(self, plan: Plan, state: SubscriptionState) -> CallSpec | None: ...

    # The SDK-backed helpers below return objects shaped by their users' protocols
    # (callbacks.events.ObjectFetcher, callbacks.backfill.Source), which providers/ may not import.
    def fetcher(self, settings: Any) -> Any:
        """Reads objects and events by id (ordering, verification, invoice lines)."""

    def backfill_source(self, settings: Any) -> Any:
        """The list APIs a backfill walks, resumably."""

    def list_events(self, settings: Any, since: int | None) -> Iterable[dict[str, Any]]:
        """The provider's events since ``since`` (its own timestamps), for the sweeper."""

    def refetches_events(self, settings: Any) -> bool:
        """Whether a received event is confirmed by fetching it again (an unsigned provider)."""

    def demo_subscription(self, settings: Any, account: str, plan: Plan, quantity: int, key: str) -> str:
        """A subscription for a demo account (the embedded world, tests)."""

    def policy_columns(self) -> list[tuple[str, dict[tuple[str, str], str]]]:
        """Columns for the policy table: (heading, (direction, policy rule) → this provider's parameter)."""
    def price_change_call(self, plan: Plan, state: SubscriptionState, *, quantity: int, day: dt.date,
                          timezone: str | None) -> CallSpec | None:
        """Move the subscription to the prices in force on ``day`` (the next period's first day) from the
        next renewal on, keeping ``quantity``, without proration; None if this provider cannot yet."""


# ------------------------------------------------------------------------ provider events


@dataclass(frozen=True)
class Save:
    """Mirror one object an event carries (``kind``: customer, subscription, invoice, credit_note, payment,
    pending_charge). ``flags``: deleted/voided marks that never revert; ``invoiced_by``: the invoice that
    billed a pending charge; ``link``: auto-link the account its metadata names; ``lines_needed``: the
    invoice does not embed all its lines, fetch them first."""

    kind: str
    obj: dict
    version: int | None = None
    flags: tuple[str, ...] = ()
    invoiced_by: str | None = None
    link: bool = False
    lines_needed: bool = False


@dataclass(frozen=True)
class Notice:
    """A product notification an event implies (callbacks/notify.py builds its data from the object).

    The account is the one linked to ``subscription``, else the one ``metadata_account`` names; with
    ``subscription_from_invoice`` the subscription is the mirrored invoice's."""

    type: str
    data: str  # invoice | subscription | credit
    obj: dict
    dedupe_key: str
    subscription: str | None = None
    metadata_account: str | None = None
    subscription_from_invoice: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EventEffects:
    """What one provider event means for seatsync, decided by the provider (pure), done by callbacks.

    ``refetch``: (object type, id) to fetch and save as the truth when the first save is not newer than
    the stored state (a provider without versions: Stripe). ``deletion``: the event removes the object.
    """

    saves: tuple[Save, ...] = ()
    notices: tuple[Notice, ...] = ()
    refetch: tuple[str, str] | None = None
    deletion: bool = False
