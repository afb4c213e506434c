"""A local stand-in for the Stripe HTTP API, so that no test ever reaches api.stripe.com.

A real HTTP server on 127.0.0.1 (a free port, a background thread) that speaks enough of
Stripe's v1 API for the `stripe` library and dj-stripe: form-encoded requests in, Stripe-shaped
JSON out, objects kept in memory. Point the library at it with::

    standin = start_standin()
    stripe.api_base = standin.url          # dj-stripe uses the same global
    stripe.api_key = "sk_test_standin"     # any key; dj-stripe wants API_KEY (see below)
    ...
    standin.stop()

Besides serving HTTP it drives the world from Python (no HTTP): `complete_checkout`,
`renew`, `refund`, `dispute`, and builds webhook events (`event`) with a valid signature
(`sign`, `signed`). Every request is recorded in `requests`; a request for a route the
stand-in does not know lands in `unhandled`, so a test can assert nothing unexpected was
asked. See tests/README.md ("Stripe stand-in").
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import stripe

# dj-stripe checks keys against ^(sk|rk|pk)_(test|live)_[a-zA-Z0-9]{24,}$, so the short
# "sk_test_standin" is refused by it (InvalidStripeAPIKey); this one suits both.
API_KEY = "sk_test_standin" + "0" * 17
API_VERSION = stripe.api_version
DAY = 24 * 60 * 60

_MISSING = object()


# --- Kinds of objects -------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """One Stripe resource: its `object` value, id prefix, path under /v1 and what the
    stand-in serves for it (create, retrieve, update, list, delete)."""

    object: str
    prefix: str
    path: str
    ops: frozenset[str]


def _kind(obj: str, prefix: str, path: str, ops: str) -> Kind:
    return Kind(obj, prefix, path, frozenset(ops.split()))


KINDS: tuple[Kind, ...] = (
    _kind("account", "acct", "accounts", "retrieve"),
    _kind("product", "prod", "products", "create retrieve update list delete"),
    _kind("price", "price", "prices", "create retrieve update list"),
    _kind("customer", "cus", "customers", "create retrieve update list delete"),
    _kind("checkout.session", "cs_test", "checkout/sessions", "create retrieve list"),
    _kind("subscription", "sub", "subscriptions", "create retrieve update list delete"),
    _kind("subscription_item", "si", "subscription_items", "retrieve list"),
    _kind("invoice", "in", "invoices", "create retrieve list"),
    _kind("payment_intent", "pi", "payment_intents", "create retrieve list"),
    _kind("payment_method", "pm", "payment_methods", "retrieve list"),
    _kind("charge", "ch", "charges", "create retrieve list"),
    _kind("refund", "re", "refunds", "create retrieve list"),
    _kind("balance_transaction", "txn", "balance_transactions", "retrieve list"),
    _kind("dispute", "dp", "disputes", "retrieve list"),
    _kind("billing_portal.session", "bps", "billing_portal/sessions", "create"),
    _kind("event", "evt", "events", "retrieve list"),
)
_BY_OBJECT = {k.object: k for k in KINDS}
_BY_PATH = sorted(KINDS, key=lambda k: -len(k.path))  # longest first: checkout/sessions


def new_id(prefix: str) -> str:
    """An id like Stripe's: `cus_` + random hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


# --- Form decoding ----------------------------------------------------------------------------
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(text: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) to nested dicts and lists.
    Values stay strings, as sent ("true"/"false" for booleans, digits for numbers)."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if match is None:
            root[raw_key] = value
            continue
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `x[]`: the next index
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node: Any, key: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v, k) for k, v in node.items()}
    if out and key != "metadata" and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: merge; an empty value removes a key, `metadata=""` all."""
    if update is None:
        return current
    if update == "":
        return {}
    merged = dict(current)
    for key, value in dict(update).items():
        if value == "" or value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _plain(obj: Any) -> Any:
    """A plain JSON copy of a dict or a stripe.StripeObject."""
    if hasattr(obj, "to_dict"):
        return json.loads(str(obj))
    return json.loads(json.dumps(obj))


# --- Errors -----------------------------------------------------------------------------------
class StandinError(Exception):
    """An error response in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type, "message": message, "code": code, "param": param}}


def _missing(noun: str, id_: str, param: str = "id", status: int = 404) -> StandinError:
    return StandinError(status, f"No such {noun}: '{id_}'", code="resource_missing", param=param)


def _bad(message: str, param: str | None = None) -> StandinError:
    return StandinError(400, message, code="parameter_invalid", param=param)


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise StandinError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return params[name]


# --- Webhook signatures -----------------------------------------------------------------------
def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A valid `Stripe-Signature` header for `payload`: `t=<ts>,v1=<HMAC-SHA256 hex>`."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(
        secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={ts},v1={digest}"


def signed(event: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """(body, Stripe-Signature header) for posting `event` to a webhook endpoint."""
    body = json.dumps(event).encode("utf-8")
    return body, sign(body, secret, timestamp)


# --- Recorded requests ------------------------------------------------------------------------
@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]  # query + form body, decoded (values as sent: strings)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# --- The stand-in -----------------------------------------------------------------------------
class StripeStandin:
    """The server and its in-memory Stripe. Use `start_standin()`, or as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.store: dict[str, dict[str, dict[str, Any]]] = {k.object: {} for k in KINDS}
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []  # "METHOD /path" of requests for unknown routes
        self.errors: list[str] = []  # tracebacks of bugs in the stand-in itself (HTTP 500)
        self._private: dict[str, dict[str, Any]] = {}  # what Stripe keeps but does not show
        self._idempotent: dict[str, tuple[int, Any]] = {}
        # Webhooks, as Stripe sends them: set by `send_webhooks_to`; events the API raises
        # wait in the outbox until the request's lock is released, then go out signed.
        self.webhook_target: tuple[str, str] | None = None
        self.deliveries: list[tuple[str, str, int]] = []  # (event id, type, HTTP status)
        self._outbox: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open keep-alive connections
        self.account = self._put(
            {
                "id": new_id("acct")[:21],
                "object": "account",
                "livemode": False,
                "created": self.now(),
                "metadata": {},
                "type": "standard",
                "country": "US",
                "default_currency": "usd",
                "email": "owner@standin.example",
                "business_type": "company",
                "business_profile": {
                    "name": "Stand-in Test Co",
                    "url": "https://standin.example",
                    "support_email": "support@standin.example",
                    "support_phone": None,
                    "support_url": None,
                    "mcc": None,
                    "product_description": None,
                },
                "capabilities": {"card_payments": "active", "transfers": "active"},
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
                "settings": {
                    "dashboard": {"display_name": "Stand-in Test", "timezone": "Etc/UTC"},
                    "branding": {
                        "icon": None,
                        "logo": None,
                        "primary_color": None,
                        "secondary_color": None,
                    },
                },
            }
        )

    # -- lifecycle
    def start(self) -> StripeStandin:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="stripe-standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        for connection in list(self._connections):  # frees the threads serving them
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> StripeStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<StripeStandin {self.url}>"

    # -- inspection
    @staticmethod
    def now() -> int:
        return int(time.time())

    def get(self, id_: str) -> dict[str, Any]:
        """A copy of a stored object, by id (KeyError if unknown)."""
        obj = self._find(id_)
        if obj is None:
            raise KeyError(id_)
        return copy.deepcopy(obj)

    def objects(self, object_type: str) -> list[dict[str, Any]]:
        """Copies of every stored object of a type ("customer", "checkout.session"...)."""
        return [copy.deepcopy(o) for o in self.store[object_type].values()]

    def calls(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        """Recorded requests, optionally by method and path prefix."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and r.path.startswith(path)
        ]

    def create(self, object_type: str, **params: Any) -> dict[str, Any]:
        """Create an object without HTTP, with the same params as the API (Python values
        or strings), e.g. `create("price", product=p, unit_amount=500, currency="usd")`."""
        with self._lock:
            return copy.deepcopy(getattr(self, "_create_" + _attr(object_type))(params))

    # -- storage
    def _put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.store[obj["object"]][obj["id"]] = obj
        return obj

    def _find(self, id_: Any) -> dict[str, Any] | None:
        if not isinstance(id_, str):
            return None
        for objects in self.store.values():
            if id_ in objects:
                return objects[id_]
        return None

    def _must(self, object_type: str, id_: Any, param: str) -> dict[str, Any]:
        obj = self.store[object_type].get(id_) if isinstance(id_, str) else None
        if obj is None:
            raise _missing(object_type, str(id_), param=param, status=400)
        return obj

    def _new(self, object_type: str, **fields: Any) -> dict[str, Any]:
        kind = _BY_OBJECT[object_type]
        obj = {
            "id": new_id(kind.prefix),
            "object": object_type,
            "livemode": False,
            "created": self.now(),
            "metadata": {},
        }
        obj.update(fields)
        return self._put(obj)

    # -- HTTP
    # -- webhooks, sent the way Stripe sends them
    def send_webhooks_to(self, url: str, secret: str) -> None:
        """From now on, the events the API and Checkout raise are POSTed, signed with
        `secret`, to `url` (dj-stripe's endpoint), as Stripe does; see `deliveries`."""
        self.webhook_target = (url, secret)

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Make the event and, if a target is set, deliver it now; returns the event."""
        event = self.event(event_type, obj)
        if self.webhook_target is not None:
            url, secret = self.webhook_target
            body, header = signed(event, secret)
            answer = requests.post(
                url, data=body, timeout=15,
                headers={"Content-Type": "application/json", "Stripe-Signature": header},
            )  # fmt: skip
            status = answer.status_code
            self.deliveries.append((event["id"], event_type, status))
        return event

    def _raise_event(self, event_type: str, obj: dict[str, Any]) -> None:
        """Queue an event the API raised (under the lock); sent once it is released."""
        if self.webhook_target is not None:
            self._outbox.append((event_type, copy.deepcopy(obj)))

    def _flush(self) -> None:
        with self._lock:
            pending, self._outbox = self._outbox, []
        for event_type, obj in pending:
            self.emit(event_type, obj)

    def _pay(self, session_id: str) -> tuple[int, Any]:
        """The hosted Checkout page's Pay button: the payment succeeds, Stripe's events go
        out, the browser goes to the success URL."""
        try:
            session = self.complete_checkout(session_id, paid=True)
        except (KeyError, ValueError) as error:
            return 400, _Html(f"<h1>Cannot pay</h1><p>{escape(str(error))}</p>")
        self.emit("checkout.session.completed", session)
        if session.get("invoice"):
            self.emit("invoice.paid", self.get(session["invoice"]))
        return 303, _Redirect(session["success_url"])

    def _checkout_page(self, session_id: str) -> _Html:
        session = self.store["checkout.session"].get(session_id)
        if session is None:
            return _Html("<h1>No such checkout session</h1>")
        lines = "".join(
            f"<li>{escape(str(line['price']['id']))} × {line['quantity']}</li>"
            for line in self._session_lines(session_id)
        )
        amount = session.get("amount_total") or 0
        return _Html(
            "<!doctype html><title>Checkout (Stripe stand-in)</title>"
            f"<h1>Checkout</h1><ul>{lines}</ul>"
            f"<p>Total: <strong>{amount / 100:.2f} {escape(session['currency'] or '')}</strong>"
            f" ({escape(session['mode'])})</p>"
            f"<form method='post' action='/pay/{escape(session_id)}'>"
            "<button type='submit'>Pay</button></form>"
            f"<p><a href='{escape(session['cancel_url'] or '/')}'>Back</a></p>"
        )

    def _handle(
        self, method: str, target: str, body: str, headers: dict[str, str]
    ) -> tuple[int, Any]:
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        if method == "POST" and path.startswith("/pay/"):
            self.requests.append(RecordedRequest(method, path, {}, headers))
            return self._pay(path[len("/pay/") :])
        try:
            return self._handle_api(method, path, split.query, body, headers)
        finally:
            self._flush()

    def _handle_api(
        self, method: str, path: str, query: str, body: str, headers: dict[str, str]
    ) -> tuple[int, Any]:
        params = decode_form(query)
        if body:
            params.update(decode_form(body))
        with self._lock:
            self.requests.append(RecordedRequest(method, path, params, headers))
            key = _header(headers, "Idempotency-Key") if method == "POST" else None
            if key and key in self._idempotent:
                return self._idempotent[key]
            try:
                result: tuple[int, Any] = (200, self._route(method, path, params))
            except StandinError as e:
                result = (e.status, e.body)
            except Exception:  # a bug here: say so, rather than drop the connection
                self.errors.append(traceback.format_exc())
                error = StandinError(
                    500, "Stripe stand-in bug:\n" + self.errors[-1], type="api_error"
                )
                return error.status, error.body
            if key:
                self._idempotent[key] = result
            return result

    def _unknown_route(self, method: str, path: str) -> StandinError:
        self.unhandled.append(f"{method} {path}")
        return StandinError(
            404,
            f"Unrecognized request URL ({method}: {path}). The Stripe stand-in does not "
            "serve it (tests/stripe_standin.py).",
        )

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        if method == "GET" and path == "/favicon.ico":  # a browser on the hosted pages
            return _Html("")
        if method == "GET" and path.startswith("/pay/"):
            return self._checkout_page(path[len("/pay/") :])
        if method == "GET" and path.startswith("/portal/"):
            return _Html(f"<h1>Customer portal (Stripe stand-in)</h1><p>{escape(path)}</p>")
        if not path.startswith("/v1/"):
            raise self._unknown_route(method, path)
        rest = path[len("/v1/") :]
        expand = [e for e in _as_list(params.get("expand")) if e]
        if rest == "account" and method == "GET":
            return self._render(self.account, expand)
        kind = next((k for k in _BY_PATH if rest == k.path or rest.startswith(k.path + "/")), None)
        if kind is None:
            raise self._unknown_route(method, path)
        segments = [s for s in rest[len(kind.path) :].split("/") if s]
        name = _attr(kind.object)

        if not segments:
            if method == "POST" and "create" in kind.ops:
                return self._render(getattr(self, "_create_" + name)(params), expand)
            if method == "GET" and "list" in kind.ops:
                objects = list(self.store[kind.object].values())
                filt = getattr(self, "_filter_" + name, None)
                if filt is not None:
                    objects = filt(objects, params)
                return self._list(objects, params, "/v1/" + kind.path, expand)
            raise self._unknown_route(method, path)

        obj = self.store[kind.object].get(segments[0])
        if len(segments) == 2:
            action = getattr(self, f"_{method.lower()}_{name}_{segments[1]}", None)
            if action is None:
                raise self._unknown_route(method, path)
            if obj is None:
                raise _missing(kind.object, segments[0])
            return action(obj, params, expand)
        if len(segments) > 2:
            raise self._unknown_route(method, path)
        op = {"GET": "retrieve", "POST": "update", "DELETE": "delete"}.get(method)
        if op not in kind.ops:
            raise self._unknown_route(method, path)
        if obj is None:
            raise _missing(kind.object, segments[0])
        if op == "update":
            obj = getattr(self, "_update_" + name)(obj, params)
        elif op == "delete":
            obj = getattr(self, "_delete_" + name)(obj, params)
        return self._render(obj, expand)

    # -- rendering, expansion, lists
    def _render(self, obj: dict[str, Any], expand: Iterable[str] = ()) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for path in expand:
            out = self._expand(out, path.split("."))
        return out

    def _expand(self, node: Any, parts: list[str]) -> Any:
        if not parts:
            return node
        if isinstance(node, list):
            return [self._expand(n, parts) for n in node]
        if not isinstance(node, dict):
            return node
        head, rest = parts[0], parts[1:]
        value = node.get(head, _MISSING)
        if value is _MISSING:
            value = self._expandable(node, head)
            if value is _MISSING:
                return node
        if isinstance(value, str) and self._find(value) is not None:
            value = copy.deepcopy(self._find(value))
        elif isinstance(value, list):
            value = [
                copy.deepcopy(self._find(v)) if isinstance(v, str) and self._find(v) else v
                for v in value
            ]
        node[head] = self._expand(value, rest)
        return node

    def _expandable(self, node: dict[str, Any], field_name: str) -> Any:
        """Fields Stripe includes only when expanded."""
        kind, id_ = node.get("object"), node.get("id")
        if kind == "checkout.session" and field_name == "line_items":
            return self._list(self._session_lines(id_), {"limit": 100}, f"{_url(node)}/line_items")
        if kind == "customer" and field_name in ("sources", "tax_ids"):
            return _list_object([], f"/v1/customers/{id_}/{field_name}")
        if kind == "customer" and field_name == "subscriptions":
            subs = [s for s in self.store["subscription"].values() if s["customer"] == id_]
            return self._list(subs, {"limit": 100}, "/v1/subscriptions")
        if field_name == "breakdown" and "amount_tax" in node:  # total_details.breakdown
            return {"discounts": [], "taxes": []}
        return _MISSING

    def _list(
        self,
        objects: list[dict[str, Any]],
        params: dict[str, Any],
        url: str,
        expand: Iterable[str] = (),
    ) -> dict[str, Any]:
        newest_first = list(reversed(objects))
        ids = [o["id"] for o in newest_first]
        after, before = params.get("starting_after"), params.get("ending_before")
        if after:
            if after not in ids:
                raise _missing("object", after, param="starting_after", status=400)
            newest_first = newest_first[ids.index(after) + 1 :]
        elif before:
            if before not in ids:
                raise _missing("object", before, param="ending_before", status=400)
            newest_first = newest_first[: ids.index(before)]
        limit = max(1, min(100, _int(params.get("limit"), 10) or 10))
        page = newest_first[:limit] if not before else newest_first[-limit:]
        listed = _list_object(page, url, has_more=len(newest_first) > limit)
        return self._render(listed, expand)

    # -- products
    def _create_product(self, p: dict[str, Any]) -> dict[str, Any]:
        name = _required(p, "name")
        if p.get("id") and self._find(p["id"]):
            raise _bad(f"Product already exists: {p['id']}", "id")
        obj = self._new(
            "product",
            active=_bool(p.get("active"), True),
            attributes=[],
            default_price=None,
            description=_str(p.get("description")),
            images=list(_as_list(p.get("images"))),
            marketing_features=[],
            name=str(name),
            package_dimensions=None,
            shippable=None,
            statement_descriptor=_str(p.get("statement_descriptor")),
            tax_code=_str(p.get("tax_code")),
            type="service",
            unit_label=_str(p.get("unit_label")),
            updated=self.now(),
            url=_str(p.get("url")),
            metadata=_metadata({}, p.get("metadata")),
        )
        if p.get("id"):
            del self.store["product"][obj["id"]]
            obj["id"] = str(p["id"])
            self._put(obj)
        return obj

    def _update_product(self, obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        for key in ("name", "description", "statement_descriptor", "unit_label", "url"):
            if key in p:
                obj[key] = _str(p[key])
        if "active" in p:
            obj["active"] = _bool(p["active"])
        if "default_price" in p:
            obj["default_price"] = _str(p["default_price"])
        obj["metadata"] = _metadata(obj["metadata"], p.get("metadata"))
        obj["updated"] = self.now()
        return obj

    def _delete_product(self, obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        del self.store["product"][obj["id"]]
        return {"id": obj["id"], "object": "product", "deleted": True}

    def _filter_product(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if "active" in p:
            objs = [o for o in objs if o["active"] == _bool(p["active"])]
        if p.get("ids"):
            objs = [o for o in objs if o["id"] in _as_list(p["ids"])]
        return objs

    def _get_product_features(self, obj: dict, p: dict[str, Any], expand: list[str]) -> dict:
        return _list_object([], f"/v1/products/{obj['id']}/features")

    # -- prices
    def _create_price(self, p: dict[str, Any]) -> dict[str, Any]:
        currency = str(_required(p, "currency")).lower()
        if p.get("product_data"):
            product_id = self._create_product(dict(p["product_data"]))["id"]
        else:
            product_id = self._must("product", _required(p, "product"), "product")["id"]
        recurring = None
        if p.get("recurring"):
            r = p["recurring"]
            interval = str(r.get("interval") or "")
            if interval not in ("day", "week", "month", "year"):
                raise _bad("Invalid recurring[interval]", "recurring[interval]")
            recurring = {
                "aggregate_usage": None,
                "interval": interval,
                "interval_count": _int(r.get("interval_count"), 1),
                "meter": None,
                "trial_period_days": None,
                "usage_type": r.get("usage_type") or "licensed",
            }
        amount = _int(p.get("unit_amount"))
        self._set_lookup_key(None, p)  # refuse a taken key before creating anything
        obj = self._new(
            "price",
            active=_bool(p.get("active"), True),
            billing_scheme="per_unit",
            currency=currency,
            custom_unit_amount=None,
            lookup_key=None,
            nickname=_str(p.get("nickname")),
            product=product_id,
            recurring=recurring,
            tax_behavior=p.get("tax_behavior") or "unspecified",
            tiers_mode=None,
            transform_quantity=None,
            type="recurring" if recurring else "one_time",
            unit_amount=amount,
            unit_amount_decimal=None if amount is None else str(amount),
            metadata=_metadata({}, p.get("metadata")),
        )
        self._set_lookup_key(obj, p)
        return obj

    def _set_lookup_key(self, obj: dict[str, Any] | None, p: dict[str, Any]) -> None:
        """Check (obj None: before creating) or apply a `lookup_key` param."""
        if "lookup_key" not in p:
            return
        key = _str(p["lookup_key"])
        holder = next(
            (o for o in self.store["price"].values() if key and o["lookup_key"] == key), None
        )
        if holder is not None and holder is not obj:
            if not _bool(p.get("transfer_lookup_key"), False):
                raise _bad(
                    f"A price (`{holder['id']}`) already uses that lookup key.", "lookup_key"
                )
            if obj is not None:
                holder["lookup_key"] = None
        if obj is not None:
            obj["lookup_key"] = key

    def _update_price(self, obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        if "active" in p:
            obj["active"] = _bool(p["active"])
        if "nickname" in p:
            obj["nickname"] = _str(p["nickname"])
        if "tax_behavior" in p:
            obj["tax_behavior"] = p["tax_behavior"]
        self._set_lookup_key(obj, p)
        obj["metadata"] = _metadata(obj["metadata"], p.get("metadata"))
        return obj

    def _filter_price(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if "lookup_keys" in p:
            keys = set(_as_list(p["lookup_keys"]))
            objs = [o for o in objs if o["lookup_key"] in keys]
        if "active" in p:
            objs = [o for o in objs if o["active"] == _bool(p["active"])]
        for key in ("product", "currency", "type"):
            if p.get(key):
                objs = [o for o in objs if o[key] == p[key]]
        return objs

    # -- customers
    def _create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._new(
            "customer",
            address=p.get("address") or None,
            balance=_int(p.get("balance"), 0),
            currency=None,
            default_source=None,
            delinquent=False,
            description=_str(p.get("description")),
            discount=None,
            email=_str(p.get("email")),
            invoice_prefix=secrets.token_hex(4).upper(),
            invoice_settings={
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            name=_str(p.get("name")),
            next_invoice_sequence=1,
            phone=_str(p.get("phone")),
            preferred_locales=list(_as_list(p.get("preferred_locales"))),
            shipping=None,
            tax_exempt="none",
            test_clock=None,
            metadata=_metadata({}, p.get("metadata")),
        )

    def _update_customer(self, obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        for key in ("email", "name", "description", "phone"):
            if key in p:
                obj[key] = _str(p[key])
        if isinstance(p.get("invoice_settings"), dict):
            pm = p["invoice_settings"].get("default_payment_method")
            if pm is not None:
                obj["invoice_settings"]["default_payment_method"] = _str(pm)
        obj["metadata"] = _metadata(obj["metadata"], p.get("metadata"))
        return obj

    def _delete_customer(self, obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        del self.store["customer"][obj["id"]]
        return {"id": obj["id"], "object": "customer", "deleted": True}

    def _filter_customer(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if p.get("email"):
            objs = [o for o in objs if o["email"] == p["email"]]
        return objs

    # -- checkout sessions
    def _create_checkout_session(self, p: dict[str, Any]) -> dict[str, Any]:
        mode = _required(p, "mode")
        if mode not in ("payment", "subscription", "setup"):
            raise _bad(f"Invalid mode: {mode}", "mode")
        customer = p.get("customer") or None
        if customer:
            self._must("customer", customer, "customer")
        lines = []
        for i, item in enumerate(_as_list(p.get("line_items"))):
            if item.get("price_data"):
                price = self._create_price(dict(item["price_data"]))
            else:
                price = self._must("price", item.get("price"), f"line_items[{i}][price]")
            quantity = _int(item.get("quantity"), 1)
            if (mode == "payment") != (price["type"] == "one_time"):
                raise _bad(
                    f"You specified `{mode}` mode but passed a "
                    f"{price['type'].replace('_', '-')} price ({price['id']}).",
                    f"line_items[{i}][price]",
                )
            amount = (price["unit_amount"] or 0) * quantity
            lines.append(
                {
                    "id": new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price["currency"],
                    "description": self.store["product"].get(price["product"], {}).get("name", ""),
                    "discounts": [],
                    "price": price["id"],
                    "quantity": quantity,
                }
            )
        if mode != "setup" and not lines:
            raise StandinError(
                400,
                "Missing required param: line_items.",
                code="parameter_missing",
                param="line_items",
            )
        total = sum(line["amount_total"] for line in lines)
        currency = lines[0]["currency"] if lines else _str(p.get("currency"))
        obj = self._new(
            "checkout.session",
            after_expiration=None,
            allow_promotion_codes=_bool(p.get("allow_promotion_codes")),
            amount_subtotal=total,
            amount_total=total,
            automatic_tax={"enabled": False, "liability": None, "status": None},
            billing_address_collection=_str(p.get("billing_address_collection")),
            cancel_url=_str(p.get("cancel_url")),
            client_reference_id=_str(p.get("client_reference_id")),
            client_secret=None,
            consent=None,
            currency=currency,
            custom_fields=[],
            customer=customer,
            customer_creation=None if customer else p.get("customer_creation", "if_required"),
            customer_details=None,
            customer_email=None if customer else _str(p.get("customer_email")),
            expires_at=self.now() + DAY,
            invoice=None,
            locale=_str(p.get("locale")),
            mode=mode,
            payment_intent=None,
            payment_link=None,
            payment_method_types=list(_as_list(p.get("payment_method_types"))) or ["card"],
            payment_status="no_payment_required" if mode == "setup" else "unpaid",
            setup_intent=None,
            shipping_address_collection=None,
            shipping_cost=None,
            shipping_details=None,
            shipping_options=[],
            status="open",
            submit_type=_str(p.get("submit_type")),
            subscription=None,
            success_url=_str(p.get("success_url")),
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            ui_mode=p.get("ui_mode") or "hosted",
            metadata=_metadata({}, p.get("metadata")),
        )
        obj["url"] = f"{self.url}/pay/{obj['id']}"
        self._private[obj["id"]] = {
            "line_items": lines,
            "subscription_data": p.get("subscription_data") or {},
            "payment_intent_data": p.get("payment_intent_data") or {},
        }
        return obj

    def _session_lines(self, session_id: str) -> list[dict[str, Any]]:
        lines = copy.deepcopy(self._private.get(session_id, {}).get("line_items", []))
        for line in lines:
            line["price"] = copy.deepcopy(self.store["price"][line["price"]])
        return lines

    def _get_checkout_session_line_items(self, obj: dict, p: dict, expand: list[str]) -> dict:
        url = f"/v1/checkout/sessions/{obj['id']}/line_items"
        return self._list(self._session_lines(obj["id"]), p, url, expand)

    def _post_checkout_session_expire(self, obj: dict, p: dict, expand: list[str]) -> dict:
        if obj["status"] != "open":
            raise _bad("Only Checkout Sessions with a status of `open` can be expired.")
        obj["status"] = "expired"
        return self._render(obj, expand)

    def _filter_checkout_session(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        for key in ("customer", "payment_intent", "subscription", "status"):
            if p.get(key):
                objs = [o for o in objs if o[key] == p[key]]
        return objs

    # -- payment methods, intents, charges, balance transactions, refunds
    def _payment_method(self, customer: str | None) -> dict[str, Any]:
        email = (self.store["customer"].get(customer) or {}).get("email")
        return self._new(
            "payment_method",
            allow_redisplay="unspecified",
            billing_details={
                "address": {
                    "city": None,
                    "country": "US",
                    "line1": None,
                    "line2": None,
                    "postal_code": "10001",
                    "state": None,
                },
                "email": email,
                "name": None,
                "phone": None,
            },
            card=dict(_CARD),
            customer=customer,
            type="card",
        )

    def _create_payment_intent(self, p: dict[str, Any]) -> dict[str, Any]:
        amount = _int(_required(p, "amount"))
        pi = self._new(
            "payment_intent",
            amount=amount,
            amount_capturable=0,
            amount_details={"tip": {}},
            amount_received=0,
            application=None,
            application_fee_amount=None,
            automatic_payment_methods=None,
            canceled_at=None,
            cancellation_reason=None,
            capture_method="automatic",
            confirmation_method="automatic",
            currency=str(_required(p, "currency")).lower(),
            customer=_str(p.get("customer")),
            description=_str(p.get("description")),
            last_payment_error=None,
            latest_charge=None,
            next_action=None,
            on_behalf_of=None,
            payment_method=None,
            payment_method_options={},
            payment_method_types=["card"],
            processing=None,
            receipt_email=None,
            review=None,
            setup_future_usage=None,
            shipping=None,
            statement_descriptor=None,
            statement_descriptor_suffix=None,
            status="requires_payment_method",
            transfer_data=None,
            transfer_group=None,
            metadata=_metadata({}, p.get("metadata")),
        )
        pi["client_secret"] = f"{pi['id']}_secret_{secrets.token_hex(8)}"
        if _bool(p.get("confirm"), False):
            self._settle(pi, paid=True)
        return pi

    def _settle(
        self, pi: dict[str, Any], *, paid: bool, invoice: str | None = None
    ) -> dict[str, Any] | None:
        """Pay (or fail to pay) a payment intent with a test card; returns its charge."""
        pm = self._payment_method(pi["customer"])
        pi["payment_method"] = pm["id"]
        if not paid:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "type": "card_error",
                "payment_method": copy.deepcopy(pm),
            }
            charge = self._charge(pi, invoice=invoice, status="failed")
            pi["latest_charge"] = charge["id"]
            return charge
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        charge = self._charge(pi, invoice=invoice, status="succeeded")
        pi["latest_charge"] = charge["id"]
        return charge

    def _charge(self, pi: dict[str, Any], *, invoice: str | None, status: str) -> dict[str, Any]:
        succeeded = status == "succeeded"
        charge = self._new(
            "charge",
            amount=pi["amount"],
            amount_captured=pi["amount"] if succeeded else 0,
            amount_refunded=0,
            application=None,
            application_fee=None,
            application_fee_amount=None,
            balance_transaction=None,
            billing_details=copy.deepcopy(
                self.store["payment_method"][pi["payment_method"]]["billing_details"]
            ),
            calculated_statement_descriptor="STANDIN",
            captured=succeeded,
            currency=pi["currency"],
            customer=pi["customer"],
            description=pi["description"],
            disputed=False,
            failure_balance_transaction=None,
            failure_code=None if succeeded else "card_declined",
            failure_message=None if succeeded else "Your card has insufficient funds.",
            fraud_details={},
            invoice=invoice,
            on_behalf_of=None,
            outcome={
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": None if succeeded else "insufficient_funds",
                "risk_level": "normal",
                "seller_message": "Payment complete." if succeeded else "The bank declined.",
                "type": "authorized" if succeeded else "issuer_declined",
            },
            paid=succeeded,
            payment_intent=pi["id"],
            payment_method=pi["payment_method"],
            payment_method_details={"card": dict(_CARD), "type": "card"},
            receipt_email=None,
            receipt_number=None,
            receipt_url=None,
            refunded=False,
            review=None,
            shipping=None,
            source=None,
            source_transfer=None,
            statement_descriptor=None,
            statement_descriptor_suffix=None,
            status=status,
            transfer_data=None,
            transfer_group=None,
            metadata=dict(pi["metadata"]),
        )
        charge["refunds"] = _list_object([], f"/v1/charges/{charge['id']}/refunds")
        charge["receipt_url"] = f"{self.url}/receipts/{charge['id']}"
        if succeeded:
            fee = round(charge["amount"] * 0.029) + 30
            charge["balance_transaction"] = self._balance_transaction(
                charge["amount"], fee, charge["currency"], charge["id"], "charge"
            )["id"]
        return charge

    def _balance_transaction(
        self, amount: int, fee: int, currency: str, source: str, type_: str
    ) -> dict[str, Any]:
        return self._new(
            "balance_transaction",
            amount=amount,
            available_on=self.now() + 2 * DAY,
            currency=currency,
            description=None,
            exchange_rate=None,
            fee=fee,
            fee_details=[
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            net=amount - fee,
            reporting_category=type_,
            source=source,
            status="pending",
            type=type_,
        )

    def _create_charge(self, p: dict[str, Any]) -> dict[str, Any]:
        pi = self._create_payment_intent(p)
        charge = self._settle(pi, paid=True)
        assert charge is not None
        return charge

    def _filter_payment_intent(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if p.get("customer"):
            objs = [o for o in objs if o["customer"] == p["customer"]]
        return objs

    _filter_charge = _filter_payment_intent

    def _filter_payment_method(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if p.get("customer"):
            objs = [o for o in objs if o["customer"] == p["customer"]]
        return objs

    def _create_refund(self, p: dict[str, Any]) -> dict[str, Any]:
        target = p.get("charge") or p.get("payment_intent")
        if not target:
            raise _bad("One of `charge` or `payment_intent` is required.", "charge")
        return self._refund(str(target), _int(p.get("amount")), p)

    def _refund(self, target: str, amount: int | None, p: dict[str, Any]) -> dict[str, Any]:
        if target.startswith("pi_"):
            pi = self._must("payment_intent", target, "payment_intent")
            target = pi["latest_charge"]
        charge = self._must("charge", target, "charge")
        if charge["status"] != "succeeded":
            raise _bad(f"Charge {charge['id']} has not been paid.", "charge")
        left = charge["amount"] - charge["amount_refunded"]
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise StandinError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund = self._new(
            "refund",
            amount=amount,
            balance_transaction=None,
            charge=charge["id"],
            currency=charge["currency"],
            destination_details={"card": {"type": "refund"}, "type": "card"},
            failure_balance_transaction=None,
            payment_intent=charge["payment_intent"],
            reason=_str(p.get("reason")),
            receipt_number=None,
            source_transfer_reversal=None,
            status="succeeded",
            transfer_reversal=None,
            metadata=_metadata({}, p.get("metadata")),
        )
        refund["balance_transaction"] = self._balance_transaction(
            -amount, 0, refund["currency"], refund["id"], "refund"
        )["id"]
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refunds = charge["refunds"]
        refunds["data"].insert(0, copy.deepcopy(refund))
        refunds["total_count"] = len(refunds["data"])
        return refund

    def _filter_refund(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        for key in ("charge", "payment_intent"):
            if p.get(key):
                objs = [o for o in objs if o[key] == p[key]]
        return objs

    # -- subscriptions
    def _create_subscription(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = self._must("customer", _required(p, "customer"), "customer")
        items = []
        for i, item in enumerate(_as_list(_required(p, "items"))):
            price = self._must("price", item.get("price"), f"items[{i}][price]")
            if price["type"] != "recurring":
                raise _bad(f"The price specified ({price['id']}) is not recurring.", "items")
            items.append((price, _int(item.get("quantity"), 1)))
        sub = self._subscribe(customer["id"], items, _metadata({}, p.get("metadata")))
        self._invoice_subscription(sub, "subscription_create", paid=True)
        return sub

    def _subscribe(
        self,
        customer: str,
        items: list[tuple[dict[str, Any], int]],
        metadata: dict[str, str],
        *,
        status: str = "active",
    ) -> dict[str, Any]:
        start = self.now()
        end = _period_end(start, items[0][0])
        sub = self._new(
            "subscription",
            application=None,
            application_fee_percent=None,
            automatic_tax={"disabled_reason": None, "enabled": False, "liability": None},
            billing_cycle_anchor=start,
            billing_cycle_anchor_config=None,
            billing_thresholds=None,
            cancel_at=None,
            cancel_at_period_end=False,
            canceled_at=None,
            cancellation_details={"comment": None, "feedback": None, "reason": None},
            collection_method="charge_automatically",
            currency=items[0][0]["currency"],
            current_period_end=end,
            current_period_start=start,
            customer=customer,
            days_until_due=None,
            default_payment_method=None,
            default_source=None,
            default_tax_rates=[],
            description=None,
            discounts=[],
            ended_at=None,
            invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
            latest_invoice=None,
            next_pending_invoice_item_invoice=None,
            on_behalf_of=None,
            pause_collection=None,
            payment_settings={
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            pending_invoice_item_interval=None,
            pending_setup_intent=None,
            pending_update=None,
            schedule=None,
            start_date=start,
            status=status,
            test_clock=None,
            transfer_data=None,
            trial_end=None,
            trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
            trial_start=None,
            metadata=metadata,
        )
        sub["items"] = _list_object([], f"/v1/subscription_items?subscription={sub['id']}")
        for price, quantity in items:
            self._add_item(sub, price, quantity)
        return sub

    def _add_item(self, sub: dict[str, Any], price: dict[str, Any], quantity: int) -> None:
        item = self._new(
            "subscription_item",
            billing_thresholds=None,
            current_period_end=sub["current_period_end"],
            current_period_start=sub["current_period_start"],
            discounts=[],
            price=copy.deepcopy(price),
            quantity=quantity,
            subscription=sub["id"],
            tax_rates=[],
        )
        sub["items"]["data"].append(item)  # the same dict: one truth for sub and item
        sub["items"]["total_count"] = len(sub["items"]["data"])

    def _update_subscription(self, sub: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise _bad(
                "A canceled subscription can only update its cancellation_details and metadata."
            )
        if "cancel_at_period_end" in p:
            at_end = bool(_bool(p["cancel_at_period_end"]))
            sub["cancel_at_period_end"] = at_end
            sub["cancel_at"] = sub["current_period_end"] if at_end else None
            sub["canceled_at"] = self.now() if at_end else None
        if "cancel_at" in p:
            sub["cancel_at"] = _int(p["cancel_at"])
        if "default_payment_method" in p:
            sub["default_payment_method"] = _str(p["default_payment_method"])
        changed = False
        for i, change in enumerate(_as_list(p.get("items"))):
            item = None
            if change.get("id"):
                item = next((it for it in sub["items"]["data"] if it["id"] == change["id"]), None)
                if item is None:
                    raise _missing("subscription_item", change["id"], f"items[{i}][id]", 400)
            if item is not None and _bool(change.get("deleted"), False):
                sub["items"]["data"].remove(item)
                del self.store["subscription_item"][item["id"]]
                changed = True
                continue
            price = None
            if change.get("price"):
                price = self._must("price", change["price"], f"items[{i}][price]")
            if item is None:
                if price is None:
                    raise _bad("Missing price for a new subscription item", f"items[{i}][price]")
                self._add_item(sub, price, _int(change.get("quantity"), 1) or 1)
            else:
                if price is not None:
                    item["price"] = copy.deepcopy(price)
                if "quantity" in change:
                    item["quantity"] = _int(change["quantity"])
                item["metadata"] = _metadata(item["metadata"], change.get("metadata"))
            changed = True
        sub["items"]["total_count"] = len(sub["items"]["data"])
        sub["metadata"] = _metadata(sub["metadata"], p.get("metadata"))
        if changed and p.get("proration_behavior") == "always_invoice":
            invoice = self._invoice_subscription(sub, "subscription_update", paid=True)
            self._raise_event("invoice.paid", invoice)
        self._raise_event("customer.subscription.updated", sub)
        return sub

    def _delete_subscription(self, sub: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise _bad(f"No such subscription: '{sub['id']}' (already canceled)")
        now = self.now()
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        self._raise_event("customer.subscription.deleted", sub)
        return sub

    def _filter_subscription(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if p.get("customer"):
            objs = [o for o in objs if o["customer"] == p["customer"]]
        if p.get("price"):
            objs = [
                o for o in objs if any(i["price"]["id"] == p["price"] for i in o["items"]["data"])
            ]
        status = p.get("status")
        if status and status != "all":
            objs = [o for o in objs if o["status"] == status]
        elif not status:
            objs = [o for o in objs if o["status"] != "canceled"]
        return objs

    def _filter_subscription_item(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        return [o for o in objs if o["subscription"] == _required(p, "subscription")]

    # -- invoices
    def _create_invoice(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = self._must("customer", _required(p, "customer"), "customer")
        sub = None
        if p.get("subscription"):
            sub = self._must("subscription", p["subscription"], "subscription")
        invoice = self._invoice(
            customer["id"],
            sub,
            lines=[],
            billing_reason="manual",
            currency=_str(p.get("currency")) or "usd",
        )
        invoice["metadata"] = _metadata({}, p.get("metadata"))
        invoice["auto_advance"] = _bool(p.get("auto_advance"), False)
        invoice["description"] = _str(p.get("description"))
        return invoice

    def _invoice(
        self,
        customer: str,
        sub: dict[str, Any] | None,
        *,
        lines: list[dict[str, Any]],
        billing_reason: str,
        currency: str,
    ) -> dict[str, Any]:
        cust = self.store["customer"][customer]
        number = f"{cust['invoice_prefix']}-{cust['next_invoice_sequence']:04d}"
        cust["next_invoice_sequence"] += 1
        total = sum(line["amount"] for line in lines)
        start = sub["current_period_start"] if sub else self.now()
        end = sub["current_period_end"] if sub else self.now()
        sub_details = (
            {"metadata": dict(sub["metadata"]), "subscription": sub["id"]} if sub else None
        )
        invoice = self._new(
            "invoice",
            account_country="US",
            account_name=self.account["settings"]["dashboard"]["display_name"],
            amount_due=total,
            amount_overpaid=0,
            amount_paid=0,
            amount_remaining=total,
            amount_shipping=0,
            attempt_count=0,
            attempted=False,
            auto_advance=True,
            automatic_tax={"enabled": False, "liability": None, "status": None},
            billing_reason=billing_reason,
            charge=None,
            collection_method="charge_automatically",
            currency=currency,
            customer=customer,
            customer_email=cust["email"],
            customer_name=cust["name"],
            default_payment_method=None,
            description=None,
            discounts=[],
            due_date=None,
            effective_at=None,
            ending_balance=0,
            footer=None,
            last_finalization_error=None,
            next_payment_attempt=None,
            number=number,
            paid=False,
            parent={
                "quote_details": None,
                "subscription_details": sub_details,
                "type": "subscription_details",
            }
            if sub
            else None,
            payment_intent=None,
            period_end=end,
            period_start=start,
            starting_balance=0,
            status="draft",
            status_transitions={
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            subscription=sub["id"] if sub else None,
            subscription_details=sub_details,
            subtotal=total,
            total=total,
            total_discount_amounts=[],
            total_taxes=[],
            webhooks_delivered_at=None,
        )
        invoice["hosted_invoice_url"] = f"{self.url}/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"{self.url}/invoices/{invoice['id']}/pdf"
        for line in lines:
            line["invoice"] = invoice["id"]
        invoice["lines"] = _list_object(lines, f"/v1/invoices/{invoice['id']}/lines")
        return invoice

    def _invoice_subscription(
        self, sub: dict[str, Any], billing_reason: str, *, paid: bool
    ) -> dict[str, Any]:
        """The invoice for a subscription's current period, finalized and paid (or its
        payment failed)."""
        lines = []
        for item in sub["items"]["data"]:
            price = item["price"]
            product = self.store["product"].get(price["product"], {})
            amount = (price["unit_amount"] or 0) * (item["quantity"] or 1)
            item_details = {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            }
            lines.append(
                {
                    "id": new_id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": price["currency"],
                    "description": f"{item['quantity']} × {product.get('name', '')}",
                    "discount_amounts": [],
                    "discountable": True,
                    "discounts": [],
                    "invoice": None,
                    "livemode": False,
                    "metadata": {},
                    "parent": {
                        "invoice_item_details": None,
                        "subscription_item_details": item_details,
                        "type": "subscription_item_details",
                    },
                    "period": {
                        "start": sub["current_period_start"],
                        "end": sub["current_period_end"],
                    },
                    "price": copy.deepcopy(price),
                    "pricing": {
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details",
                        "unit_amount_decimal": price["unit_amount_decimal"],
                    },
                    "proration": False,
                    "quantity": item["quantity"],
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                    "taxes": [],
                    "type": "subscription",
                }
            )
        invoice = self._invoice(
            sub["customer"],
            sub,
            lines=lines,
            billing_reason=billing_reason,
            currency=sub["currency"],
        )
        sub["latest_invoice"] = invoice["id"]
        self._collect(invoice, paid=paid)
        return invoice

    def _collect(self, invoice: dict[str, Any], *, paid: bool) -> None:
        """Finalize an invoice and attempt its payment."""
        now = self.now()
        invoice["status_transitions"]["finalized_at"] = (
            invoice["status_transitions"]["finalized_at"] or now
        )
        invoice["effective_at"] = invoice["effective_at"] or now
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        if invoice["payment_intent"] is None and invoice["amount_due"] > 0:
            pi = self._create_payment_intent(
                {
                    "amount": invoice["amount_due"],
                    "currency": invoice["currency"],
                    "customer": invoice["customer"],
                    "description": "Subscription " + _billing_reason_label(invoice),
                }
            )
            invoice["payment_intent"] = pi["id"]
        pi = self.store["payment_intent"].get(invoice["payment_intent"] or "")
        charge = self._settle(pi, paid=paid, invoice=invoice["id"]) if pi else None
        if charge is not None:
            invoice["charge"] = charge["id"]
        if paid:
            invoice.update(
                status="paid",
                paid=True,
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                next_payment_attempt=None,
                auto_advance=False,
            )
            invoice["status_transitions"]["paid_at"] = now
        else:
            invoice.update(status="open", paid=False, next_payment_attempt=now + 3 * DAY)

    def _filter_invoice(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        for key in ("customer", "subscription", "status"):
            if p.get(key):
                objs = [o for o in objs if o[key] == p[key]]
        return objs

    def _get_invoice_lines(self, obj: dict, p: dict, expand: list[str]) -> dict:
        return self._list(list(reversed(obj["lines"]["data"])), p, obj["lines"]["url"], expand)

    def _post_invoice_pay(self, obj: dict, p: dict, expand: list[str]) -> dict:
        if obj["status"] == "paid":
            raise _bad("Invoice is already paid", "invoice")
        self._collect(obj, paid=True)
        sub = self.store["subscription"].get(obj["subscription"] or "")
        if sub is not None and sub["status"] in ("past_due", "incomplete", "unpaid"):
            sub["status"] = "active"
        return self._render(obj, expand)

    # -- billing portal
    def _create_billing_portal_session(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = self._must("customer", _required(p, "customer"), "customer")
        obj = self._new(
            "billing_portal.session",
            configuration="bpc_standin",
            customer=customer["id"],
            flow=None,
            locale=None,
            on_behalf_of=None,
            return_url=_str(p.get("return_url")),
        )
        obj.pop("metadata")
        obj["url"] = f"{self.url}/portal/{obj['id']}"
        return obj

    # -- events
    def _filter_event(self, objs: list[dict], p: dict[str, Any]) -> list[dict]:
        if p.get("type"):
            objs = [o for o in objs if o["type"] == p["type"]]
        return objs

    # --- Scenario helpers (no HTTP) -----------------------------------------------------------
    def complete_checkout(self, session_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The customer finishes Checkout. mode=payment: a payment intent (+ charge if paid);
        mode=subscription: the subscription (active; "incomplete" if not paid) and its first
        invoice (billing_reason "subscription_create"). Returns a copy of the session."""
        with self._lock:
            session = self.store["checkout.session"].get(session_id)
            if session is None:
                raise KeyError(session_id)
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            private = self._private[session_id]
            if session["customer"] is None and (
                session["mode"] == "subscription" or session["customer_creation"] == "always"
            ):
                email = session["customer_email"] or "buyer@standin.example"
                session["customer"] = self._create_customer({"email": email})["id"]
            customer = self.store["customer"].get(session["customer"] or "")
            session["customer_details"] = {
                "address": None,
                "email": (customer or {}).get("email") or session["customer_email"],
                "name": (customer or {}).get("name"),
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
            if session["mode"] == "payment":
                pi = self._create_payment_intent(
                    {
                        "amount": session["amount_total"],
                        "currency": session["currency"],
                        "customer": session["customer"],
                        "metadata": private["payment_intent_data"].get("metadata"),
                    }
                )
                if paid:
                    self._settle(pi, paid=True)
                else:
                    pi["status"] = "processing"
                session["payment_intent"] = pi["id"]
            elif session["mode"] == "subscription":
                items = [
                    (self.store["price"][line["price"]], line["quantity"])
                    for line in private["line_items"]
                ]
                metadata = _metadata({}, private["subscription_data"].get("metadata"))
                sub = self._subscribe(
                    session["customer"],
                    items,
                    metadata,
                    status="active" if paid else "incomplete",
                )
                invoice = self._invoice_subscription(sub, "subscription_create", paid=paid)
                session["subscription"] = sub["id"]
                session["invoice"] = invoice["id"]
            session["status"] = "complete"
            if session["mode"] != "setup":
                session["payment_status"] = "paid" if paid else "unpaid"
            return copy.deepcopy(session)

    def settle_async_payment(self, session_id: str) -> dict[str, Any]:
        """A delayed payment method (a bank debit) of a completed, unpaid payment session
        succeeds: its payment intent is paid and the session says so. Returns a copy."""
        with self._lock:
            session = self.store["checkout.session"][session_id]
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise ValueError(f"{session_id} is not a completed, unpaid session")
            self._settle(self.store["payment_intent"][session["payment_intent"]], paid=True)
            session["payment_status"] = "paid"
            return copy.deepcopy(session)

    def renew(self, subscription_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The next period starts: the subscription's period advances and its invoice
        (billing_reason "subscription_cycle") is paid, or fails (invoice "open", attempt
        count 1, subscription "past_due"). Returns a copy of the invoice."""
        with self._lock:
            sub = self.store["subscription"][subscription_id]
            if sub["status"] not in ("active", "past_due", "trialing"):
                raise ValueError(f"{subscription_id} is {sub['status']}")
            if sub["cancel_at_period_end"]:
                raise ValueError(f"{subscription_id} is set to cancel at the period end")
            start = sub["current_period_end"]
            end = _period_end(start, sub["items"]["data"][0]["price"])
            sub.update(current_period_start=start, current_period_end=end)
            for item in sub["items"]["data"]:
                item.update(current_period_start=start, current_period_end=end)
            invoice = self._invoice_subscription(sub, "subscription_cycle", paid=paid)
            sub["status"] = "active" if paid else "past_due"
            return copy.deepcopy(invoice)

    def end_period(self, subscription_id: str) -> dict[str, Any]:
        """The period of a subscription set to cancel at its end runs out: it is canceled.
        Returns a copy of the subscription."""
        with self._lock:
            sub = self.store["subscription"][subscription_id]
            sub.update(status="canceled", ended_at=sub["current_period_end"])
            sub["cancellation_details"]["reason"] = "cancellation_requested"
            return copy.deepcopy(sub)

    def refund(self, charge_or_payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """Refund (all that is left of, or `amount` of) a charge; marks the charge refunded.
        Returns a copy of the refund; the charge's new state is `get(charge_id)`."""
        with self._lock:
            return copy.deepcopy(self._refund(charge_or_payment_intent, amount, {}))

    def dispute(
        self, charge_or_payment_intent: str, *, status: str = "needs_response"
    ) -> dict[str, Any]:
        """A dispute of a charge (status "needs_response"; "won"/"lost" to close it — call
        again with the same charge to update it). Returns a copy of the dispute."""
        with self._lock:
            target = charge_or_payment_intent
            if target.startswith("pi_"):
                target = self.store["payment_intent"][target]["latest_charge"]
            charge = self.store["charge"][target]
            dispute = next(
                (d for d in self.store["dispute"].values() if d["charge"] == charge["id"]), None
            )
            if dispute is None:
                dispute = self._new(
                    "dispute",
                    amount=charge["amount"],
                    balance_transactions=[],
                    charge=charge["id"],
                    currency=charge["currency"],
                    evidence={},
                    evidence_details={
                        "due_by": self.now() + 7 * DAY,
                        "has_evidence": False,
                        "past_due": False,
                        "submission_count": 0,
                    },
                    is_charge_refundable=False,
                    payment_intent=charge["payment_intent"],
                    reason="fraudulent",
                    status=status,
                )
                charge["disputed"] = True
            dispute["status"] = status
            return copy.deepcopy(dispute)

    def event(
        self,
        type: str,
        obj: Any,
        *,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A Stripe Event about `obj` (a dict or StripeObject, copied as it is now); stored so
        that GET /v1/events/<id> returns it. Returns a copy."""
        data: dict[str, Any] = {"object": _plain(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = _plain(previous_attributes)
        with self._lock:
            event = self._new(
                "event",
                api_version=API_VERSION,
                data=data,
                pending_webhooks=1,
                request={"id": None, "idempotency_key": None},
                type=type,
            )
            event.pop("metadata")
            return copy.deepcopy(event)


# --- Module helpers ---------------------------------------------------------------------------
_CARD = {
    "brand": "visa",
    "checks": {
        "address_line1_check": None,
        "address_postal_code_check": "pass",
        "cvc_check": "pass",
    },
    "country": "US",
    "display_brand": "visa",
    "exp_month": 12,
    "exp_year": 2034,
    "fingerprint": "standin4242",
    "funding": "credit",
    "last4": "4242",
    "networks": {"available": ["visa"], "preferred": None},
    "wallet": None,
}


def _billing_reason_label(invoice: dict[str, Any]) -> str:
    return {"subscription_create": "creation", "subscription_cycle": "renewal"}.get(
        invoice["billing_reason"], "update"
    )


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _attr(object_type: str) -> str:
    return object_type.replace(".", "_")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):  # `a[0]=` decoded with gaps, or a dict passed directly
        return list(value.values())
    return [value]


def _url(obj: dict[str, Any]) -> str:
    return f"/v1/{_BY_OBJECT[obj['object']].path}/{obj['id']}"


def _list_object(data: list[Any], url: str, *, has_more: bool = False) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "total_count": len(data),
        "url": url,
    }


def _period_end(start: int, price: dict[str, Any]) -> int:
    recurring = price.get("recurring") or {"interval": "month", "interval_count": 1}
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[recurring["interval"]]
    return start + days * (recurring.get("interval_count") or 1) * DAY


class _Redirect(str):
    """A 303 to this URL (the hosted pages' buttons)."""


class _Html(str):
    """A text/html response body."""


def _handler_for(standin: StripeStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each response waits ~40 ms for an ACK

        def handle(self) -> None:
            standin._connections.add(self.connection)
            try:
                super().handle()
            finally:
                standin._connections.discard(self.connection)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            status, payload = standin._handle(
                self.command, self.path, body, dict(self.headers.items())
            )
            if isinstance(payload, _Redirect):
                self.send_response(status)
                self.send_header("Location", str(payload))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if isinstance(payload, _Html):
                data, ctype = payload.encode("utf-8"), "text/html; charset=utf-8"
            else:
                data, ctype = json.dumps(payload).encode("utf-8"), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(7))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class NetworkBlocked(OSError):
    """Raised by `block_network()` for a connection that would leave the machine."""


@contextlib.contextmanager
def block_network() -> Iterator[None]:
    """Refuse every connection (and DNS lookup) not to the loopback interface, so a call
    that would reach api.stripe.com fails loudly (the stripe library reports it as an
    APIConnectionError with the NetworkBlocked message)."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise NetworkBlocked(f"test tried to connect to {address[0]}:{address[1]}")
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and str(host) not in _LOOPBACK:
            raise NetworkBlocked(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


def start_standin() -> StripeStandin:
    """A started stand-in; call `.stop()` when done (or use `with StripeStandin() as s`)."""
    return StripeStandin().start()


__all__ = [
    "API_KEY",
    "API_VERSION",
    "KINDS",
    "NetworkBlocked",
    "RecordedRequest",
    "StandinError",
    "StripeStandin",
    "block_network",
    "decode_form",
    "new_id",
    "sign",
    "signed",
    "start_standin",
]
