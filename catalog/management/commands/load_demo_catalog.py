from __future__ import annotations

from django.core.management.base import BaseCommand

from catalog.demo import load_demo_catalog


class Command(BaseCommand):
    help = "Load the demo catalog (providers, models, routes, prices). Safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--update", action="store_true", help="Also reset demo models and prices."
        )

    def handle(self, *args: object, update: bool, **options: object) -> None:
        counts = load_demo_catalog(update=update)
        created = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.stdout.write(f"Demo catalog loaded (new: {created}).")
