"""The brands as the request path and the pages need them: an in-process snapshot on the
catalog's version (a brand saved in admin reaches every process within seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from brands.models import Brand, BrandModel
from brands.pricing import marked_up
from catalog import selectors as catalog_selectors
from catalog.models import Price
from catalog.selectors import ModelInfo, Snapshot


@dataclass(frozen=True)
class BrandInfo:
    id: int
    slug: str
    name: str
    domain: str
    enabled: bool
    owner_id: int  # the reseller, whose credit account pays wholesale
    logo_url: str
    primary_color: str
    support_email: str
    from_email: str
    disclose_operator: bool
    markup_bp: int
    all_models: bool
    # Model slug → its own markup (None: the brand's). With all_models off, the offer.
    models: dict[str, int | None] = field(default_factory=dict)

    def offers(self, slug: str) -> bool:
        return self.all_models or slug in self.models

    def markup_for(self, slug: str) -> int:
        own = self.models.get(slug)
        return self.markup_bp if own is None else own

    def price(self, model: ModelInfo | str, price: Price) -> Price:
        """The brand's price for a model, from the operator's price row."""
        slug = model if isinstance(model, str) else model.slug
        return marked_up(price, self.markup_for(slug))


def catalog(brand: BrandInfo | None) -> list[ModelInfo]:
    """The enabled models a site shows, each with its price rows as that site charges them:
    the operator's catalog as it is, or a brand's offer at the brand's prices."""
    models = catalog_selectors.enabled_models().values()
    if brand is None:
        return list(models)
    return [
        replace(m, prices=tuple(brand.price(m, p) for p in m.prices))
        for m in models
        if brand.offers(m.slug)
    ]


@dataclass(frozen=True)
class _Brands:
    by_id: dict[int, BrandInfo]
    by_host: dict[str, BrandInfo]


def _build() -> _Brands:
    offers: dict[int, dict[str, int | None]] = {}
    rows = BrandModel.objects.select_related("model").only("brand_id", "model__slug", "markup_bp")
    for row in rows:
        offers.setdefault(row.brand_id, {})[row.model.slug] = row.markup_bp
    infos = [
        BrandInfo(
            id=b.id,
            slug=b.slug,
            name=b.name,
            domain=b.domain,
            enabled=b.enabled,
            owner_id=b.owner_id,
            logo_url=b.logo_url,
            primary_color=b.primary_color,
            support_email=b.support_email,
            from_email=b.from_email,
            disclose_operator=b.disclose_operator,
            markup_bp=b.markup_bp,
            all_models=b.all_models,
            models=offers.get(b.id, {}),
        )  # fmt: skip
        # Never the Stripe secrets: not needed here, and not worth decrypting on every build.
        for b in Brand.objects.defer("stripe_secret_key", "stripe_webhook_secret")
    ]
    return _Brands(
        by_id={b.id: b for b in infos},
        by_host={b.domain: b for b in infos if b.enabled},
    )


_brands = Snapshot(_build)


def get(brand_id: int | None) -> BrandInfo | None:
    """A brand by id (enabled or not: a disabled brand's customers are refused, not
    served as the operator's)."""
    if brand_id is None:
        return None
    return _brands.get().by_id.get(brand_id)


def for_host(host: str) -> BrandInfo | None:
    """The enabled brand served on this host name (no port), or None: the operator's site."""
    return _brands.get().by_host.get(host.lower().rstrip("."))
