"""Create or update the Stripe products and prices that sell the plans and credit packs
staff define in admin (billing/stripe_api.py: a changed amount makes a new price)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing import stripe_api
from billing.models import CreditPack, Plan


class Command(BaseCommand):
    help = "Create or update the Stripe products and prices of every plan and credit pack."

    def handle(self, *args: object, **options: object) -> None:
        offers = [*Plan.objects.all(), *CreditPack.objects.all()]
        try:
            for offer in offers:
                done = stripe_api.sync_offer(offer)
                self.stdout.write(f"{offer._meta.verbose_name} {offer.slug}: {done}")
        except stripe_api.BillingUnavailable as error:
            raise CommandError(f"{error} ({error.__cause__ or 'no key'})") from error
        self.stdout.write(self.style.SUCCESS(f"{len(offers)} offers in sync with Stripe."))
