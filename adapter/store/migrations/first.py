"""Migrations 0100-0901: seat sync, the ledger and accounts, provider callbacks, batches, tenancy, holds."""

from __future__ import annotations

import sqlite_utils

from adapter.store.migrations import MIGRATIONS


@MIGRATIONS(name="0100_sync")
def _m0100_sync(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sync_state (
            account TEXT PRIMARY KEY,
            ledger_version INTEGER NOT NULL DEFAULT 0,
            synced_version INTEGER NOT NULL DEFAULT 0,
            dirty_since_us INTEGER,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_us INTEGER NOT NULL DEFAULT 0,
            last_set_quantity INTEGER,
            baseline_quantity INTEGER,
            baseline_us INTEGER
        );
        CREATE INDEX sync_state_due ON sync_state (dirty_since_us) WHERE dirty_since_us IS NOT NULL;

        CREATE TABLE provider_calls (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            provider TEXT NOT NULL,
            subscription TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            operation TEXT NOT NULL,
            target TEXT NOT NULL,
            params TEXT NOT NULL,
            effective_us INTEGER,
            quantity INTEGER,
            status TEXT NOT NULL DEFAULT 'planned'
                CHECK (status IN ('planned', 'succeeded', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            request_id TEXT,
            response TEXT,
            error TEXT,
            planned_us INTEGER NOT NULL,
            completed_us INTEGER
        );
        CREATE INDEX provider_calls_account ON provider_calls (account, status, id);

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            call_id INTEGER REFERENCES provider_calls(id),
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            operation TEXT NOT NULL,
            code TEXT,
            status INTEGER,
            reason TEXT NOT NULL,
            request_id TEXT,
            created_us INTEGER NOT NULL,
            retried_us INTEGER
        );

        CREATE TABLE drifts (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            expected_quantity INTEGER,
            provider_quantity INTEGER NOT NULL,
            detected_us INTEGER NOT NULL,
            recorded_us INTEGER NOT NULL
        );

        CREATE TABLE late_changes (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('across_period', 'applied_now')),
            instant_us INTEGER NOT NULL,
            delta INTEGER NOT NULL,
            detected_us INTEGER NOT NULL
        );
        """
    )


@MIGRATIONS(name="0200_product_events_ledger_accounts")
def _m0200_ledger(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE product_events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX product_events_account ON product_events (account, occurred_us);

        CREATE TABLE seat_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            user TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            active INTEGER NOT NULL CHECK (active IN (0, 1))
        );
        CREATE INDEX seat_facts_account ON seat_facts (account, occurred_us);

        CREATE TABLE snapshots (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL
        );
        CREATE INDEX snapshots_account ON snapshots (account, occurred_us);

        CREATE TABLE snapshot_users (
            event_id TEXT NOT NULL REFERENCES snapshots(event_id),
            user TEXT NOT NULL,
            PRIMARY KEY (event_id, user)
        );

        CREATE TABLE plan_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            plan TEXT NOT NULL
        );
        CREATE INDEX plan_facts_account ON plan_facts (account, occurred_us);

        CREATE TABLE addon_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            addons TEXT NOT NULL
        );
        CREATE INDEX addon_facts_account ON addon_facts (account, occurred_us);

        CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            provider TEXT NOT NULL CHECK (provider IN ('stripe', 'chargebee')),
            subscription TEXT NOT NULL,
            plan TEXT NOT NULL,
            timezone TEXT,  -- NULL: the plan's timezone from mappings/ applies
            linked_us INTEGER NOT NULL,
            event_id TEXT NOT NULL REFERENCES product_events(id)
        );
        CREATE INDEX accounts_subscription ON accounts (provider, subscription);
        """
    )


@MIGRATIONS(name="0600_provider_callbacks")
def _m0600_provider_callbacks(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE provider_events (
            id INTEGER PRIMARY KEY,
            provider TEXT NOT NULL CHECK (provider IN ('stripe', 'chargebee')),
            event_id TEXT NOT NULL,
            type TEXT NOT NULL,
            object_type TEXT,
            object_id TEXT,
            dedupe_key TEXT,
            created INTEGER,
            body TEXT NOT NULL,
            source TEXT NOT NULL,
            received_us INTEGER NOT NULL,
            seen_count INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            claim_owner TEXT,
            claim_expires_us INTEGER NOT NULL DEFAULT 0,
            processed_us INTEGER,
            outcome TEXT,
            error TEXT,
            UNIQUE (provider, event_id),
            UNIQUE (provider, dedupe_key)
        );
        CREATE INDEX provider_events_pending ON provider_events (status, next_attempt_us, created, id);
        CREATE INDEX provider_events_object ON provider_events (provider, object_id);

        CREATE TABLE mirror_customers (
            provider TEXT NOT NULL, id TEXT NOT NULL, email TEXT, name TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_subscriptions (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, account TEXT, status TEXT, currency TEXT,
            current_period_start INTEGER, current_period_end INTEGER, past_due_since TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_subscriptions_account ON mirror_subscriptions (account);
        CREATE TABLE mirror_subscription_items (
            provider TEXT NOT NULL, id TEXT NOT NULL, subscription TEXT NOT NULL, price TEXT, quantity INTEGER,
            unit_amount_decimal TEXT, current_period_start INTEGER, current_period_end INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_subscription_items_parent ON mirror_subscription_items (provider, subscription);
        CREATE TABLE mirror_invoices (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, status TEXT, currency TEXT,
            subtotal INTEGER, total INTEGER, amount_due INTEGER, amount_paid INTEGER,
            period_start INTEGER, period_end INTEGER, created INTEGER, billing_reason TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_invoices_subscription ON mirror_invoices (provider, subscription);
        CREATE TABLE mirror_invoice_lines (
            provider TEXT NOT NULL, id TEXT NOT NULL, invoice TEXT NOT NULL, subscription TEXT,
            subscription_item TEXT, price TEXT, description TEXT, period_start INTEGER, period_end INTEGER,
            quantity INTEGER, unit_amount_decimal TEXT, amount INTEGER NOT NULL, proration INTEGER,
            pending_charge TEXT, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_invoice_lines_parent ON mirror_invoice_lines (provider, invoice);
        CREATE TABLE mirror_credit_notes (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, invoice TEXT, type TEXT,
            status TEXT, reason TEXT, currency TEXT, total INTEGER, created INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_payments (
            provider TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, customer TEXT, subscription TEXT,
            invoice TEXT, status TEXT, amount INTEGER, currency TEXT, created INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_pending_charges (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, subscription_item TEXT,
            price TEXT, description TEXT, period_start INTEGER, period_end INTEGER, quantity INTEGER,
            unit_amount_decimal TEXT, amount INTEGER, proration INTEGER, invoice TEXT,
            voided INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, version INTEGER,
            raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_pending_charges_subscription ON mirror_pending_charges (provider, subscription);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            msg_id TEXT NOT NULL UNIQUE,
            dedupe_key TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            account TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            claim_owner TEXT,
            claim_expires_us INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            created_us INTEGER NOT NULL,
            delivered_us INTEGER
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_attempt_us);
        CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            attempted_us INTEGER NOT NULL,
            status INTEGER,
            error TEXT
        );
        CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

        CREATE TABLE watermarks (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_us INTEGER NOT NULL
        );
        """
    )


@MIGRATIONS(name="0700_sync_batches")
def _m0700_sync_batches(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sync_batches (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            period_start_us INTEGER NOT NULL,
            covered TEXT NOT NULL,
            window_start_us INTEGER NOT NULL,
            horizon_us INTEGER NOT NULL,
            quantity_before INTEGER,
            residual INTEGER NOT NULL DEFAULT 0,
            last_drift_id INTEGER NOT NULL DEFAULT 0,
            strategy TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dead')),
            created_us INTEGER NOT NULL
        );
        CREATE INDEX sync_batches_period ON sync_batches (subscription, period_start_us, status, id);
        ALTER TABLE provider_calls ADD COLUMN batch_id INTEGER REFERENCES sync_batches(id);
        ALTER TABLE sync_state ADD COLUMN last_dirty_us INTEGER;
        CREATE INDEX provider_calls_subscription ON provider_calls (subscription, status, completed_us);
        CREATE INDEX provider_calls_effective ON provider_calls (subscription, effective_us);
        CREATE INDEX drifts_subscription ON drifts (subscription, detected_us);

        CREATE TABLE late_changes_v2 (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('across_period', 'applied_now', 'shifted')),
            instant_us INTEGER NOT NULL,
            delta INTEGER NOT NULL,
            detected_us INTEGER NOT NULL,
            moved INTEGER,
            unit TEXT CHECK (unit IN ('second', 'millisecond', 'day')),
            period_units INTEGER,
            amount INTEGER,
            period_start_us INTEGER
        );
        INSERT INTO late_changes_v2 (id, account, subscription, kind, instant_us, delta, detected_us)
            SELECT id, account, subscription, kind, instant_us, delta, detected_us FROM late_changes;
        DROP TABLE late_changes;
        ALTER TABLE late_changes_v2 RENAME TO late_changes;
        CREATE INDEX late_changes_account ON late_changes (account, instant_us);
        """
    )


@MIGRATIONS(name="0800_one_subscription_one_account")
def _m0800_one_subscription_one_account(db: sqlite_utils.Database) -> None:
    """A (provider, subscription) bills one account. Duplicates stored before this rule: the earliest link
    (by instant, then event id) keeps the subscription, since a later one naming it was the mistake (or a
    takeover); the later links are moved to ``link_conflicts`` for an operator, not silently dropped."""
    db.executescript(
        """
        CREATE TABLE link_conflicts (
            account TEXT NOT NULL,
            provider TEXT NOT NULL,
            subscription TEXT NOT NULL,
            plan TEXT NOT NULL,
            timezone TEXT,
            linked_us INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            kept_account TEXT NOT NULL
        );
        INSERT INTO link_conflicts (account, provider, subscription, plan, timezone, linked_us, event_id, kept_account)
            SELECT a.account, a.provider, a.subscription, a.plan, a.timezone, a.linked_us, a.event_id,
                   (SELECT k.account FROM accounts k WHERE k.provider = a.provider AND k.subscription = a.subscription
                    ORDER BY k.linked_us, k.event_id LIMIT 1)
            FROM accounts a
            WHERE EXISTS (SELECT 1 FROM accounts b WHERE b.provider = a.provider AND b.subscription = a.subscription
                          AND (b.linked_us, b.event_id) < (a.linked_us, a.event_id));
        DELETE FROM accounts WHERE event_id IN (SELECT event_id FROM link_conflicts);
        DROP INDEX accounts_subscription;
        CREATE UNIQUE INDEX accounts_subscription ON accounts (provider, subscription);
        CREATE INDEX product_events_type ON product_events (type, account, occurred_us);
        """
    )


@MIGRATIONS(name="0810_readiness")
def _m0810_readiness(db: sqlite_utils.Database) -> None:
    """``/readyz``'s write probe (one row, rewritten) and the sync workers' heartbeats."""
    db.executescript(
        """
        CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_us INTEGER NOT NULL);
        CREATE TABLE worker_heartbeats (owner TEXT PRIMARY KEY, beat_us INTEGER NOT NULL);
        """
    )


@MIGRATIONS(name="0900_sync_holds")
def _m0900_sync_holds(db: sqlite_utils.Database) -> None:
    # Why seat sync writes nothing to an account's subscription (cancelled, paused): one row per
    # account while it lasts, so the ops page and `seatsync` can say so.
    db.executescript(
        """
        CREATE TABLE sync_holds (
            account TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            subscription TEXT NOT NULL,
            state TEXT NOT NULL,
            since_us INTEGER,
            resumes_us INTEGER,
            reason TEXT NOT NULL,
            recorded_us INTEGER NOT NULL
        );
        """
    )


@MIGRATIONS(name="0901_price_switches")
def _m0901_price_switches(db: sqlite_utils.Database) -> None:
    # An announced price change whose switch seat sync was asked to schedule, once per account and change:
    # the worker makes the account due in the last period before the change even if no seat moves.
    db.executescript(
        """
        CREATE TABLE price_switches (
            account TEXT NOT NULL,
            plan TEXT NOT NULL,
            item TEXT NOT NULL,
            effective_from TEXT NOT NULL,
            requested_us INTEGER NOT NULL,
            PRIMARY KEY (account, plan, item, effective_from)
        );
        """
    )
