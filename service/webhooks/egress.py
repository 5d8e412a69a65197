"""Outbound HTTP that cannot be pointed at the service's own network (SSRF guard).

A subscriber chooses the URL we call, so the URL is untrusted. Every host name is resolved and
every resolved address checked: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16
with the cloud metadata address 169.254.169.254, fe80::/10), unspecified, multicast, reserved
and other non-global ranges are refused, also when wrapped in IPv6 (``::ffff:127.0.0.1``,
6to4, NAT64). The check happens twice: on the URL before each request (and each redirect hop),
and again inside the transport's connect, which then connects to the address it just checked.
Because the connection goes to the vetted address while TLS still verifies and sends SNI for the
host name, a DNS answer that changes between the check and the connect (rebinding) gains nothing.

Redirects are not followed unless the policy allows it; then each hop is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; raises ``OSError`` when the name does not resolve."""

# How much of a receiver's answer we read: enough for an error message, no more.
MAX_RESPONSE_BYTES = 64 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Cloud instance metadata endpoints outside the link-local ranges: AWS's IPv6 endpoint
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html) and
# Alibaba Cloud's (https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata).
# Like link-local addresses they are refused whatever ``allow_private`` says: no receiver
# lives there, and they hand out the host's cloud credentials.
_METADATA = (
    ipaddress.IPv6Network("fd00:ec2::/64"),
    ipaddress.IPv4Network("100.100.100.200/32"),
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class EgressRefused(Exception):
    """The URL may not be called. ``reason`` is a stable code for delivery logs."""

    def __init__(self, message: str, reason: str = "egress_refused") -> None:
        super().__init__(message)
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``getaddrinfo`` gives for ``host`` (TCP), in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What outbound calls may do. ``allow_private`` is the operator's switch for local receivers
    (tests, a receiver on the same host or LAN); multicast, unspecified, link-local and cloud
    metadata addresses stay refused."""

    allow_private: bool = False
    follow_redirects: bool = False
    max_redirects: int = 3
    resolver: Resolver = field(default=system_resolver)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: Address, *, allow_private: bool = False) -> str | None:
    """Why ``address`` may not be called (``loopback``, ``private``...), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal_reason(embedded, allow_private=allow_private)
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_link_local:
        return "link_local"
    if any(address in network for network in _METADATA if network.version == address.version):
        return "metadata"
    if allow_private:
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not_global"
    return None


def _parse_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def vet_host(host: str, port: int, policy: EgressPolicy) -> list[str]:
    """The addresses of ``host`` that may be called; raises ``EgressRefused`` if any may not.

    One bad address refuses the host: a name that also resolves to 127.0.0.1 is an attack (or a
    misconfiguration) whichever address the connection would have picked.
    """
    literal = _parse_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(policy.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise EgressRefused(f"cannot resolve {host!r}", "dns_failure") from exc
        if not addresses:
            raise EgressRefused(f"{host!r} resolves to no address", "dns_failure")
    vetted: list[str] = []
    for text in addresses:
        address = _parse_address(text)
        if address is None:
            raise EgressRefused(f"{host!r} resolves to an invalid address", "dns_failure")
        reason = refusal_reason(address, allow_private=policy.allow_private)
        if reason is not None:
            shown = "the host" if literal is not None else repr(host)
            raise EgressRefused(f"{shown} is a {reason.replace('_', '-')} address", reason)
        vetted.append(str(address))
    return vetted


def vet_url(url: str | httpx.URL, policy: EgressPolicy) -> list[str]:
    """Check scheme and host of ``url``; returns the vetted addresses (see ``vet_host``)."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except (httpx.InvalidURL, ValueError) as exc:
        raise EgressRefused("the URL is not valid", "invalid_url") from exc
    if parsed.scheme not in ("http", "https"):
        raise EgressRefused("only http and https URLs can be called", "invalid_url")
    if not parsed.host:
        raise EgressRefused("the URL has no host", "invalid_url")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return vet_host(parsed.host, port, policy)


class GuardedBackend(httpcore.NetworkBackend):
    """Connects only to vetted addresses of the requested host (the connect-time check)."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in vet_host(host, port, self._policy):
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vet_host returns at least one address or raises
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise EgressRefused("unix sockets cannot be called", "invalid_url")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_ERRORS: Sequence[tuple[type[Exception], type[httpx.TransportError]]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport whose connections go through ``GuardedBackend``; no proxies.

    Responses are read up to ``max_response_bytes`` (the rest is dropped): a receiver cannot
    make us buffer a large answer.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_connections: int = 20,
    ) -> None:
        self._max_bytes = max_response_bytes
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=max_connections,
            network_backend=GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
            try:
                body = bytearray()
                for chunk in response.iter_stream():
                    body.extend(chunk[: self._max_bytes - len(body)])
                    if len(body) >= self._max_bytes:
                        break
            finally:
                response.close()
        except Exception as exc:
            for core_error, httpx_error in _ERRORS:
                if isinstance(exc, core_error):
                    raise httpx_error(str(exc), request=request) from exc
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            content=bytes(body),
            request=request,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_client(policy: EgressPolicy, *, timeout: float = 10.0) -> httpx.Client:
    """An httpx client that never follows redirects itself and ignores proxy variables."""
    return httpx.Client(
        transport=GuardedTransport(policy),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    )


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    policy: EgressPolicy,
) -> httpx.Response:
    """POST ``content`` to ``url`` after vetting it; follows redirects only if ``policy`` says so.

    Each redirect target is vetted before it is called. Raises ``EgressRefused`` (a refused URL
    or hop, or more than ``policy.max_redirects`` hops) and ``httpx.HTTPError`` (network).
    """
    vet_url(url, policy)
    request = client.build_request("POST", url, content=content, headers=dict(headers))
    for _ in range(policy.max_redirects + 1):
        response = client.send(request, follow_redirects=False)
        following = response.next_request if policy.follow_redirects else None
        if following is None:
            return response
        response.close()
        vet_url(following.url, policy)
        request = following
    raise EgressRefused(f"more than {policy.max_redirects} redirects", "too_many_redirects")
