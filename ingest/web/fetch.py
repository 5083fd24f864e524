"""A polite, safe HTTP fetcher for feeds and article pages.

Polite: a User-Agent naming citewire and its version, robots.txt honoured (RFC 9309, read with
Protego), at most ``fetch_per_host`` requests at a time to one host with ``fetch_delay_s`` (or the
site's Crawl-delay) between them, conditional requests (ETag / Last-Modified) so an unchanged
resource costs a ``304``.

Safe: only http and https; a timeout per request; a size limit on every body (read in pieces, the
connection dropped past it); redirects followed by hand, at most ``fetch_max_redirects``, each hop
checked again; and, unless allowed, no request to a private, loopback, link-local or otherwise
non-public address, so a URL typed into the UI or the API cannot reach the machine's own services
(checked on the address each connection is opened to, so a name that resolves differently the
second time cannot slip through). The command line, run by the machine's owner, allows them.

Every failure is a :class:`FetchError` whose message is one line naming the cause.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from rag.errors import CitewireError
from rag.settings import Settings
from rag.store.feeds import Validators

log = logging.getLogger(__name__)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)


class FetchError(CitewireError):
    """A feed or page could not be fetched; the message says why in one line."""


def user_agent() -> str:
    try:
        release = version("citewire")
    except PackageNotFoundError:
        release = "dev"
    return f"citewire/{release} (+https://github.com/citewire/citewire; news question answering)"


@dataclass
class Fetched:
    """A response: the URL it came from after redirects, its status (200, or 304: unchanged)."""

    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    charset: str = ""
    validators: Validators = field(default_factory=Validators)
    location: str = ""  # a redirect's target

    @property
    def unchanged(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        """The body as text: the declared charset (header, then ``<meta charset>``), else strict UTF-8."""
        declared = self.charset
        if not declared:
            m = _CHARSET.search(self.body[:4096])
            declared = m.group(1).decode("ascii", "replace") if m else ""
        if b"\x00" in self.body[:8192] and not declared.lower().startswith("utf-16"):
            raise FetchError(f"{self.url}: binary content ({self.content_type or 'no content type'}), not a page")
        try:
            return self.body.decode(declared or "utf-8")
        except LookupError:
            raise FetchError(f"{self.url}: unknown charset {declared!r}") from None
        except UnicodeDecodeError as exc:
            raise FetchError(f"{self.url}: not {declared or 'UTF-8'} text and no other charset declared "
                             f"(invalid byte 0x{self.body[exc.start]:02x} at offset {exc.start})") from None


def check_address(host: str, port: int) -> str:
    """The first address ``host`` resolves to; FetchError if any of them is not public (private,
    loopback, link-local, multicast, …)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host} ({exc.strerror or exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise FetchError(f"{host} is a private, loopback or link-local address ({address}); "
                             "set CITEWIRE_FETCH_ALLOW_PRIVATE=true to allow it")
    return str(infos[0][4][0])


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Opens connections only to public addresses, checking the very address it connects to.

    Checking the URL's host before the request is not enough: the HTTP client resolves the name
    again when it connects, and a name can answer a public address to the check and a private one
    to the connection (DNS rebinding). Here the name is resolved once, checked, and that address
    is the one connected to; TLS still verifies the certificate against the name.
    """

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return super().connect_tcp(check_address(host, port), port, timeout, local_address, socket_options)


def _transport(allow_private: bool) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    if not allow_private:  # httpx has no parameter for the connection pool's network backend
        transport._pool._network_backend = _PublicOnlyBackend()  # type: ignore[attr-defined]
    return transport


class Fetcher:
    """Fetches URLs politely; thread-safe, so a pool of workers can share one."""

    def __init__(self, settings: Settings, allow_private: bool | None = None) -> None:
        self.settings = settings
        self.allow_private = settings.fetch_allow_private if allow_private is None else allow_private
        self.max_bytes = int(settings.fetch_max_mb * 2**20)
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.fetch_timeout_s), follow_redirects=False,
            headers={"User-Agent": user_agent(), "Accept-Encoding": "gzip, deflate"}, trust_env=False,
            transport=_transport(self.allow_private),
        )
        self._slots: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(settings.fetch_per_host))
        self._next_at: dict[str, float] = defaultdict(float)
        self._robots: dict[str, object] = {}
        self._lock = threading.Lock()
        self.requests = 0  # requests sent, robots.txt included (benchmarks and tests read it)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, validators: Validators | None = None) -> Fetched:
        """GET ``url`` (conditionally, given validators), following redirects; raises :class:`FetchError`."""
        seen: list[str] = []
        current = url
        while True:
            parts = self._checked(current)
            self._check_robots(parts.scheme, parts.netloc, current)
            response = self._request(current, parts.netloc, validators)
            if response.status in (301, 302, 303, 307, 308):
                seen.append(current)
                if len(seen) > self.settings.fetch_max_redirects:
                    raise FetchError(f"{url}: more than {self.settings.fetch_max_redirects} redirects")
                target = urljoin(current, response.location)
                if target in seen:
                    raise FetchError(f"{url}: redirect loop ({' → '.join([*seen, target])})")
                current = target
                continue
            response.url = current
            return response

    def _checked(self, url: str) -> object:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"{url}: only http and https URLs can be fetched")
        if not parts.hostname:
            raise FetchError(f"{url}: no host in the URL")
        if not self.allow_private:
            check_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        return parts

    def _request(self, url: str, host: str, validators: Validators | None) -> Fetched:
        headers = {}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        with self._slots[host]:
            self._wait_turn(host)
            self.requests += 1
            try:
                with self.client.stream("GET", url, headers=headers) as r:
                    if r.status_code in (301, 302, 303, 307, 308):
                        location = r.headers.get("location")
                        if not location:
                            raise FetchError(f"{url}: HTTP {r.status_code} redirect without a Location")
                        return Fetched(url, r.status_code, location=location)
                    if r.status_code == 304:
                        return Fetched(url, 304, validators=validators or Validators())
                    if r.status_code >= 400:
                        raise FetchError(f"{url}: HTTP {r.status_code} {r.reason_phrase}".rstrip())
                    declared = int(r.headers.get("content-length") or 0)
                    if declared > self.max_bytes:
                        raise FetchError(f"{url}: too large ({declared // 1024} KiB > {self.max_bytes // 1024} KiB)")
                    body = bytearray()
                    for piece in r.iter_bytes():
                        body += piece
                        if len(body) > self.max_bytes:
                            raise FetchError(f"{url}: too large (over {self.max_bytes // 1024} KiB)")
                    kind = r.headers.get("content-type", "")
                    return Fetched(url, r.status_code, bytes(body), kind.split(";")[0].strip().lower(),
                                   r.charset_encoding or "",
                                   Validators(r.headers.get("etag", ""), r.headers.get("last-modified", "")))
            except httpx.TimeoutException:
                raise FetchError(f"{url}: timed out after {self.settings.fetch_timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{url}: {type(exc).__name__} ({exc})".replace("\n", " ")) from None

    def _wait_turn(self, host: str) -> None:
        """Keep the delay between two requests to one host (the site's Crawl-delay when it sets one)."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next_at[host])
            self._next_at[host] = at + self._delay(host)
        if at > now:
            time.sleep(at - now)

    def _delay(self, host: str) -> float:
        robots = self._robots.get(host)
        asked = robots.crawl_delay(user_agent()) if robots is not None else None  # type: ignore[attr-defined]
        return max(self.settings.fetch_delay_s, min(float(asked or 0), 30.0))

    def _check_robots(self, scheme: str, host: str, url: str) -> None:
        """RFC 9309: a missing robots.txt (4xx) allows everything, one answering 5xx nothing for now."""
        if host not in self._robots:
            from protego import Protego

            robots_url = f"{scheme}://{host}/robots.txt"
            try:
                got = self._request(robots_url, host, None)
                rules = got.text() if got.status == 200 else ""  # a redirected robots.txt counts as absent
            except FetchError as exc:
                status = re.search(r"HTTP (\d{3})", str(exc))
                if status is None:  # the host itself is unreachable: say so, and try again next time
                    raise FetchError(f"{url}: {str(exc).split(': ', 1)[-1]}") from None
                if status.group(1).startswith("5"):
                    raise FetchError(f"{url}: robots.txt of {host} answered HTTP {status.group(1)}, "
                                     "so the site may not be crawled for now (RFC 9309)") from None
                rules = ""
            self._robots[host] = Protego.parse(rules)
        if not self._robots[host].can_fetch(url, user_agent()):  # type: ignore[attr-defined]
            raise FetchError(f"{url}: robots.txt of {host} disallows fetching it")
