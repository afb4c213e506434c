from __future__ import annotations

from datetime import timedelta

from allauth.account import app_settings as allauth_settings
from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.backends import site_brand_id
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


# --- allauth's forms, with an email unique per site (ours, or a white-label brand's) --------


def email_taken_on_site(email: str, brand_id: int | None, *, other_than: object = None) -> bool:
    """Whether an account of this site already has this address (as its login, or among its
    addresses)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(brand_id=brand_id)
    if other_than is not None:
        users = users.exclude(pk=other_than.pk)
    return (
        users.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(user__in=users, email__iexact=email).exists()
    )


class SignupForm(allauth_forms.SignupForm):
    def validate_unique_email(self, value: str) -> str:
        """allauth's rule (say so, or with enumeration prevention send the existing
        account a note instead), applied to this site's accounts only."""
        self.account_already_exists = False
        if email_taken_on_site(value, site_brand_id()):
            mandatory = (
                allauth_settings.EMAIL_VERIFICATION
                == allauth_settings.EmailVerificationMethod.MANDATORY
            )
            if not (allauth_settings.PREVENT_ENUMERATION and mandatory):
                raise get_adapter().validation_error("email_taken")
            self.account_already_exists = True  # allauth tells the account's owner instead
        return get_adapter().validate_unique_email(value)


class AddEmailForm(allauth_forms.AddEmailForm):
    def clean_email(self) -> str:
        value = super().clean_email()
        if email_taken_on_site(value, self.user.brand_id, other_than=self.user):
            raise get_adapter().validation_error("email_taken")
        return value


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    def clean_email(self) -> str:
        """Only this site's account with the address gets the reset email."""
        value = super().clean_email()
        brand_id = site_brand_id()
        self.users = [user for user in self.users if user.brand_id == brand_id]
        if not self.users and not allauth_settings.PREVENT_ENUMERATION:
            raise get_adapter().validation_error("unknown_email")
        return value
