from __future__ import annotations

from django import forms

from brands.models import Brand

SECRETS = ("stripe_secret_key", "stripe_webhook_secret")


class BrandForm(forms.ModelForm):
    """The brand's Stripe secrets are write-only: never rendered back into the page; left
    empty they stay as they are, and "clear" removes them."""

    stripe_secret_key = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="The brand's own Stripe secret key (sk_…). Empty: keep the current one.",
    )  # fmt: skip
    stripe_webhook_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="The signing secret (whsec_…) of the webhook endpoint in the brand's Stripe "
        "account that points at /stripe/brand/<slug>/webhook/ (events: checkout.session."
        "completed, checkout.session.async_payment_succeeded, charge.refunded, charge.dispute."
        "created, charge.dispute.closed). Empty: keep the current one.",
    )  # fmt: skip
    clear_stripe = forms.BooleanField(required=False, label="Clear both Stripe secrets")

    class Meta:
        model = Brand
        fields = ["slug", "name", "domain", "enabled", "owner", "logo_url", "primary_color",
                  "support_email", "from_email", "disclose_operator", "markup_bp", "all_models",
                  *SECRETS]  # fmt: skip

    def clean(self) -> dict[str, object]:
        data = super().clean()
        stored = Brand.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        for name in SECRETS:
            if data.get("clear_stripe"):
                data[name] = ""
            elif not data.get(name) and stored is not None:
                data[name] = getattr(stored, name)
        return data
