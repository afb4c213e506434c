from __future__ import annotations

from django.http import HttpRequest

from billing.models import CreditAccount


def balance(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    micros = (
        CreditAccount.objects.filter(user=user).values_list("balance_micros", flat=True).first()
    )
    return {"balance_micros": micros or 0}
