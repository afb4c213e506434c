from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reapi.money import MICROS_PER_CREDIT, InvalidAmount, parse_credits


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, initial="My key", label=_("Name"))
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label=_("Expires in days"),
        help_text=_("Leave empty for no expiry."),
    )
    allowed_models = forms.CharField(
        required=False,
        max_length=2000,
        label=_("Allowed models"),
        help_text=_("Comma-separated model ids; empty allows every model."),
    )
    spend_cap_credits = forms.CharField(
        required=False,
        max_length=30,
        label=_("Spend cap (credits)"),
        help_text=_("Credits this key may spend in total; empty for no cap."),
    )
    rpm_limit = forms.IntegerField(
        required=False, min_value=1, max_value=100_000, label=_("Requests per minute")
    )
    tpm_limit = forms.IntegerField(
        required=False, min_value=1, max_value=2_000_000_000, label=_("Tokens per minute")
    )
    concurrency_limit = forms.IntegerField(
        required=False, min_value=1, max_value=10_000, label=_("Concurrent requests")
    )

    def clean_allowed_models(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_models") or ""
        slugs = sorted({s.strip() for s in raw.split(",") if s.strip()})
        for slug in slugs:
            if len(slug) > 100 or not all(c.isalnum() or c in "-._:/" for c in slug):
                raise forms.ValidationError(
                    _("%(slug)s is not a model id.") % {"slug": repr(slug[:40])}
                )
        return slugs

    def clean_spend_cap_credits(self) -> int | None:
        raw = (self.cleaned_data.get("spend_cap_credits") or "").strip()
        if not raw:
            return None
        try:
            micros = parse_credits(raw)
        except InvalidAmount as exc:
            raise forms.ValidationError(str(exc)) from None
        if not 0 < micros <= 10**12 * MICROS_PER_CREDIT:
            raise forms.ValidationError(_("Enter a positive number of credits."))
        return micros

    def key_options(self) -> dict[str, object]:
        data = self.cleaned_data
        days = data.get("expires_in_days")
        return {
            "name": data["name"],
            "expires_at": timezone.now() + timedelta(days=days) if days else None,
            "allowed_models": data["allowed_models"],
            "spend_cap_micros": data["spend_cap_credits"],
            "rpm_limit": data.get("rpm_limit"),
            "tpm_limit": data.get("tpm_limit"),
            "concurrency_limit": data.get("concurrency_limit"),
        }


class CloseAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, strip=False, label=_("Password"))
    confirm = forms.BooleanField(label=_("I understand that closing the account cannot be undone."))

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That password is not correct."))
        return password
