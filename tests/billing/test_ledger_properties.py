"""Property test of the ledger: any sequence of grants, reserves, settles, releases,
debits, staff adjustments and reconciler runs keeps balance == sum(entries), never goes
below zero, and matches a plain model of what each step should do (hypothesis, stateful)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import User
from billing import ledger
from billing.models import Hold, LedgerEntry

AMOUNTS = st.integers(min_value=1, max_value=5_000_000)
_users = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        user = User.objects.create_user(f"prop{next(_users)}@example.com", "pw-123456789")
        self.account = ledger.account_for(user)
        self.expected = 0  # what the balance should be
        self.open: set[int] = set()  # holds the model thinks are open
        self.keys = itertools.count()

    def key(self) -> str:
        return f"{self.account.pk}:{next(self.keys)}"

    @rule(amount=AMOUNTS)
    def grant(self, amount: int) -> None:
        key = self.key()
        ledger.grant(self.account, amount_micros=amount, idempotency_key=key)
        ledger.grant(self.account, amount_micros=amount, idempotency_key=key)  # replay: once
        self.expected += amount

    @rule(target=holds, amount=AMOUNTS)
    def reserve(self, amount: int):
        request_id = f"req-{self.key()}"
        try:
            hold = ledger.reserve(self.account, amount_micros=amount, request_id=request_id)
        except ledger.InsufficientCredits:
            assert amount > self.expected
            return None
        assert amount <= self.expected
        self.expected -= amount
        self.open.add(hold.pk)
        return hold

    @rule(hold=consumes(holds), share=st.integers(min_value=0, max_value=100))
    def settle(self, hold: Hold | None, share: int) -> None:
        if hold is None:
            return
        charged = hold.amount_micros * share // 100
        if hold.pk not in self.open:  # the reconciler gave it back: too late to charge
            with pytest.raises(ledger.HoldNotOpen):
                ledger.settle(hold, charged_micros=charged)
            return
        ledger.settle(hold, charged_micros=charged)
        ledger.settle(hold, charged_micros=charged)  # twice: charged once
        self.open.discard(hold.pk)
        self.expected += hold.amount_micros - charged

    @rule(hold=consumes(holds))
    def release(self, hold: Hold | None) -> None:
        if hold is None:
            return
        ledger.release(hold)
        ledger.release(hold)  # idempotent
        if hold.pk in self.open:
            self.open.discard(hold.pk)
            self.expected += hold.amount_micros

    @rule(hold=consumes(holds), over=st.integers(min_value=1, max_value=10))
    def charge_more_than_held(self, hold: Hold | None, over: int) -> None:
        if hold is None or hold.pk not in self.open:
            return
        with pytest.raises(ledger.ChargeExceedsHold):
            ledger.settle(hold, charged_micros=hold.amount_micros + over)
        ledger.release(hold)  # the request path's answer: give it back
        self.open.discard(hold.pk)
        self.expected += hold.amount_micros

    @rule(amount=AMOUNTS)
    def debit(self, amount: int) -> None:
        try:
            ledger.debit(self.account, amount_micros=amount, idempotency_key=self.key())
        except ledger.InsufficientCredits:
            assert amount > self.expected
            return
        self.expected -= amount

    @rule(amount=st.integers(min_value=-5_000_000, max_value=5_000_000).filter(bool))
    def adjust(self, amount: int) -> None:
        try:
            ledger.adjust(self.account, amount_micros=amount, reason="property test",
                          idempotency_key=self.key(), staff=None)  # fmt: skip
        except ledger.InsufficientCredits:
            assert self.expected + amount < 0
            return
        self.expected += amount

    @rule()
    def reconcile_later(self) -> None:
        """The reconciler, an hour from now: every open hold of this account goes back."""
        open_holds = list(Hold.objects.filter(account=self.account, state=Hold.State.OPEN))
        assert {h.pk for h in open_holds} == self.open
        ledger.release_expired(now=timezone.now() + timedelta(hours=1))
        self.expected += sum(h.amount_micros for h in open_holds)
        self.open.clear()

    @invariant()
    def books_balance(self) -> None:
        self.account.refresh_from_db()
        assert self.account.balance_micros == self.expected >= 0
        assert ledger.entries_total(self.account) == self.account.balance_micros
        assert not LedgerEntry.objects.filter(account=self.account, balance_after_micros__lt=0)


@pytest.mark.django_db
def test_any_sequence_of_money_operations_keeps_the_books():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),  # fmt: skip
    )
