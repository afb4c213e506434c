"""allauth, told about white-label brands: a customer who signs up on a brand's domain is
that brand's customer, and its emails come from the brand (brands/)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter

from brands import mail


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):  # noqa: ANN001
        brand = getattr(request, "brand", None)
        user.brand_id = brand.id if brand else None
        return super().save_user(request, user, form, commit=commit)

    def get_from_email(self) -> str:
        return mail.site_for(getattr(self.request, "brand", None)).from_email
