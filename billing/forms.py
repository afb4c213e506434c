from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from billing import ledger
from billing.models import CreditAccount
from reapi.money import InvalidAmount, parse_credits


class AdjustmentForm(forms.Form):
    amount_credits = forms.CharField(
        label="Amount (credits)",
        max_length=30,
        help_text="Positive adds credits, negative removes them. $1 = 1,000 credits.",
    )
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    # Rendered with the form, so a double submit applies the adjustment once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("initial", {"idempotency_key": f"adjust:{uuid.uuid4()}"})
        super().__init__(*args, **kwargs)

    def clean_amount_credits(self) -> int:
        try:
            micros = parse_credits(self.cleaned_data["amount_credits"])
        except InvalidAmount as exc:
            raise forms.ValidationError(str(exc)) from None
        if micros == 0:
            raise forms.ValidationError("An adjustment cannot be zero.")
        if abs(micros) > 10**18:
            raise forms.ValidationError("That amount is too large.")
        return micros

    def clean_idempotency_key(self) -> str:
        value = self.cleaned_data["idempotency_key"]
        if not value.startswith("adjust:"):
            raise forms.ValidationError("Reload the form and try again.")
        return value

    def apply(self, account: CreditAccount, *, by: User) -> bool:
        """Post the adjustment (a valid form) through the ledger; False, with the reason on
        the form, when the ledger refuses it (e.g. it would go below zero)."""
        try:
            ledger.adjust(
                account,
                amount_micros=self.cleaned_data["amount_credits"],
                reason=self.cleaned_data["reason"],
                idempotency_key=self.cleaned_data["idempotency_key"],
                staff=by,
            )
        except ledger.LedgerError as exc:
            self.add_error("amount_credits", str(exc))
            return False
        return True


class LowBalanceAlertForm(forms.Form):
    """Settings → Billing: the balance, in whole credits, below which we send one email."""

    threshold = forms.IntegerField(
        label=_("Email me when my balance falls below"),
        required=False, min_value=0, max_value=1_000_000_000,
        help_text=_("In credits; leave empty for no alert."),
        widget=forms.NumberInput(attrs={"placeholder": _("e.g. 1000"), "step": 1}),
    )  # fmt: skip

    def threshold_micros(self) -> int | None:
        value = self.cleaned_data["threshold"]
        return None if value is None else value * 1_000_000
