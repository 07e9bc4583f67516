"""The server's guard: Host check, access token, same-origin + CSRF on writes, strict headers.

The gallery serves a user's files and edits their sidecars over HTTP, so
every request passes here first (a plain ASGI middleware, so file responses
stream through untouched):

- **Host header** must name this server (DNS rebinding: a web page whose
  name resolves to 127.0.0.1 would otherwise be "same origin" with us).
- **Token** (required off localhost): ``Authorization: Bearer T``, or the
  ``kino_token`` cookie that ``/?token=T`` sets (HttpOnly, SameSite=Strict).
- **Writes** (anything but GET/HEAD): an ``Origin`` or ``Sec-Fetch-Site``
  header, when the browser sends one, must be this server's, and
  ``X-CSRF-Token`` must carry the token of this process (the page has it in
  a meta tag; other clients get it from ``GET /api/session``).
- **Headers** on every answer: a strict Content-Security-Policy (scripts and
  styles from our own static files only, nothing from the network),
  ``nosniff``, no framing, no referrer.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers, MutableHeaders

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP",
    "CSRF_HEADER",
    "TOKEN_COOKIE",
    "AccessRules",
    "Guard",
    "is_loopback",
]

TOKEN_COOKIE = "kino_token"
CSRF_HEADER = "x-csrf-token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """``example:8765`` -> ``example``; ``[::1]:8765`` -> ``::1`` (lower case)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class AccessRules:
    """Who may ask what: allowed Host names, the access token, the CSRF token, writes."""

    bind_host: str = "127.0.0.1"
    token: str | None = None
    allow_edits: bool = True
    extra_hosts: tuple[str, ...] = ()
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        """Host names a request may use; None means any (bound to every address)."""
        names = {n.lower() for n in self.extra_hosts} | set(_LOOPBACK_NAMES)
        bind = self.bind_host.strip("[]").lower()
        if bind in ("0.0.0.0", "::", ""):
            return None  # the token (required off localhost) keeps rebinding out
        return frozenset(names | {bind})

    def is_host_allowed(self, host_header: str) -> bool:
        allowed = self.allowed_hosts
        return bool(host_header) and (allowed is None or _hostname(host_header) in allowed)

    def is_token_ok(self, headers: Headers, cookies: str) -> bool:
        if self.token is None:
            return True
        given = headers.get("authorization", "")
        if given.lower().startswith("bearer ") and _same(given[7:].strip(), self.token):
            return True
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and _same(value, self.token):
                return True
        return False

    def is_csrf_ok(self, headers: Headers) -> bool:
        return _same(headers.get(CSRF_HEADER, ""), self.csrf_token)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class Guard:
    """ASGI middleware applying :class:`AccessRules` and the security headers."""

    def __init__(self, app: ASGIApp, rules: AccessRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, code, message, extra = refusal
            await _send_json(send, status, {"error": code, "message": message}, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.setdefault("content-security-policy", CSP)
                out.setdefault("x-content-type-options", "nosniff")
                out.setdefault("x-frame-options", "DENY")
                out.setdefault("referrer-policy", "no-referrer")
                out.setdefault("cross-origin-resource-policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(
        self, scope: Scope, headers: Headers
    ) -> tuple[int, str, str, dict[str, str]] | None:
        rules = self.rules
        host = headers.get("host", "")
        if not rules.is_host_allowed(host):
            return 400, "bad_host", f"this server does not answer to host {host!r}", {}
        if not rules.is_token_ok(headers, headers.get("cookie", "")):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if given is not None and rules.token is not None and _same(given, rules.token):
                return _token_redirect(scope, query, rules.token)
            return 401, "unauthorized", "this server needs its access token (see serve --token)", {}
        if scope["method"] in _SAFE_METHODS:
            return None
        expected = f"{scope.get('scheme', 'http')}://{host}".lower()
        origin = headers.get("origin")
        if origin is not None and origin.lower() != expected:
            return 403, "csrf", f"cross-origin request from {origin} refused", {}
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return 403, "csrf", "cross-site request refused", {}
        if not rules.is_csrf_ok(headers):
            return 403, "csrf", "missing or wrong X-CSRF-Token (GET /api/session gives it)", {}
        return None


def _token_redirect(
    scope: Scope, query: dict[str, str], token: str
) -> tuple[int, str, str, dict[str, str]]:
    """``/?token=T`` -> a cookie and the same URL without the token (kept out of history)."""
    rest = {k: v for k, v in query.items() if k != "token"}
    location = scope.get("path", "/") + (("?" + urlencode(rest)) if rest else "")
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    return 303, "see_other", "token accepted", {"location": location, "set-cookie": cookie}


async def _send_json(send: Send, status: int, body: object, extra: dict[str, str]) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        *((k.encode(), v.encode("latin-1")) for k, v in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
