"""Who an email to a customer comes from: the brand's name, sender, address and support
mailbox for a white-label customer, the operator's for everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings

from brands import selectors
from brands.selectors import BrandInfo


@dataclass(frozen=True)
class Site:
    name: str
    from_email: str  # the sender, "Name <address>"
    url: str  # the public base URL, no trailing slash
    support_email: str


def site_for(brand: BrandInfo | None) -> Site:
    from reapi.context_processors import OPERATOR_NAME

    if brand is None:
        return Site(OPERATOR_NAME, settings.DEFAULT_FROM_EMAIL, settings.SITE_URL,
                    settings.SUPPORT_EMAIL)  # fmt: skip
    # Without a sender of its own, the operator's address under the brand's name.
    sender = brand.from_email or formataddr((brand.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))
    return Site(brand.name, sender, f"https://{brand.domain}", brand.support_email)


def site_of(user: object) -> Site:
    return site_for(selectors.get(getattr(user, "brand_id", None)))
