"""ASGI entry point: /v1 goes to the lean gateway handler, everything else to Django's."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reapi.settings")

pages = get_asgi_application()  # sets Django up; must come before the gateway import

from gateway.asgi import GatewayApp  # noqa: E402
from gateway.views import ROUTES  # noqa: E402

api = GatewayApp(ROUTES)


async def lifespan(receive, send) -> None:
    from gateway import http

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await http.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        await api(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await pages(scope, receive, send)
