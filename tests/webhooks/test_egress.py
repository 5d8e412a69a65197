"""The SSRF guard: refused address ranges, DNS answers, redirects, rebinding, pinned connects."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx

from service.webhooks.egress import (
    EgressPolicy,
    EgressRefused,
    GuardedTransport,
    guarded_client,
    post,
    vet_url,
)

PUBLIC = "93.184.216.34"


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("name not known")
        return table[host]

    return resolve


POLICY = EgressPolicy(resolver=resolver({"hooks.example.com": [PUBLIC]}))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link_local"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link_local"),
        ("http://[fe80::1]/", "link_local"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "not_global"),
        ("http://240.0.0.1/", "private"),
    ],
)
def test_internal_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        vet_url(url, POLICY)

    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "url",
    [f"https://{PUBLIC}/hook", "https://[2606:4700:4700::1111]/", "https://hooks.example.com"],
)
def test_public_addresses_are_allowed(url: str) -> None:
    assert vet_url(url, POLICY)


def test_a_name_resolving_to_loopback_is_refused() -> None:
    policy = EgressPolicy(resolver=resolver({"evil.example.com": ["127.0.0.1"]}))

    with pytest.raises(EgressRefused) as refused:
        vet_url("https://evil.example.com/hook", policy)

    assert refused.value.reason == "loopback"


def test_one_internal_address_among_public_ones_refuses_the_name() -> None:
    policy = EgressPolicy(resolver=resolver({"mixed.example.com": [PUBLIC, "::1"]}))

    with pytest.raises(EgressRefused):
        vet_url("https://mixed.example.com/", policy)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("https://unknown.example.com/", "dns_failure"),
        ("http:///nohost", "invalid_url"),
    ],
)
def test_unusable_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        vet_url(url, POLICY)

    assert refused.value.reason == reason


def test_the_operator_setting_allows_private_receivers_but_not_multicast() -> None:
    policy = EgressPolicy(allow_private=True, resolver=resolver({}))

    assert vet_url("http://127.0.0.1:9000/", policy) == ["127.0.0.1"]
    assert vet_url("http://10.0.0.1/", policy) == ["10.0.0.1"]
    with pytest.raises(EgressRefused):
        vet_url("http://224.0.0.1/", policy)


@pytest.fixture
def router() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


def _client(router: respx.Router) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(router.handler))


def test_redirects_are_not_followed_by_default(router: respx.Router) -> None:
    router.post("https://hooks.example.com/x").respond(307, headers={"Location": "/y"})
    second = router.post("https://hooks.example.com/y").respond(200)

    response = post(
        _client(router), "https://hooks.example.com/x", content=b"{}", headers={}, policy=POLICY
    )

    assert response.status_code == 307
    assert not second.called


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1/admin", "http://[::1]/", "https://internal.example.com/"]
)
def test_a_redirect_to_loopback_is_refused_even_when_redirects_are_allowed(
    router: respx.Router, target: str
) -> None:
    policy = EgressPolicy(
        follow_redirects=True,
        resolver=resolver({"hooks.example.com": [PUBLIC], "internal.example.com": ["127.0.0.1"]}),
    )
    router.post("https://hooks.example.com/x").respond(308, headers={"Location": target})
    internal = router.route(url__regex=r"https?://(127\.0\.0\.1|\[::1\]|internal\.).*")

    with pytest.raises(EgressRefused) as refused:
        post(
            _client(router), "https://hooks.example.com/x", content=b"{}", headers={}, policy=policy
        )

    assert refused.value.reason == "loopback"
    assert not internal.called


def test_allowed_redirects_to_public_hosts_are_followed_with_the_body(router: respx.Router) -> None:
    policy = EgressPolicy(follow_redirects=True, resolver=POLICY.resolver)
    router.post("https://hooks.example.com/x").respond(308, headers={"Location": "/y"})
    final = router.post("https://hooks.example.com/y").respond(204)

    response = post(
        _client(router),
        "https://hooks.example.com/x",
        content=b'{"a":1}',
        headers={"X-Test": "1"},
        policy=policy,
    )

    assert response.status_code == 204
    assert final.calls.last.request.content == b'{"a":1}'


def test_a_redirect_loop_stops(router: respx.Router) -> None:
    policy = EgressPolicy(follow_redirects=True, max_redirects=2, resolver=POLICY.resolver)
    loop = router.post("https://hooks.example.com/x").respond(307, headers={"Location": "/x"})

    with pytest.raises(EgressRefused) as refused:
        post(_client(router), "https://hooks.example.com/x", content=b"", headers={}, policy=policy)

    assert refused.value.reason == "too_many_redirects"
    assert loop.call_count == 3


def test_dns_rebinding_after_the_check_is_refused_at_connect() -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    policy = EgressPolicy(resolver=lambda host, port: next(answers))

    with guarded_client(policy) as client, pytest.raises(EgressRefused) as refused:
        post(client, "http://rebind.example.com/", content=b"", headers={}, policy=policy)

    assert refused.value.reason == "loopback"


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str | None, bytes]] = []
    reply = b"ok"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.seen.append((self.headers["Host"], body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(_Receiver.reply)))
        self.end_headers()
        self.wfile.write(_Receiver.reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.seen = []
    _Receiver.reply = b"ok"
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_connection_goes_to_the_vetted_address_and_keeps_the_host_name(receiver: int) -> None:
    policy = EgressPolicy(allow_private=True, resolver=resolver({"receiver.test": ["127.0.0.1"]}))

    with guarded_client(policy) as client:
        response = post(
            client,
            f"http://receiver.test:{receiver}/hook",
            content=b"hello",
            headers={},
            policy=policy,
        )

    assert response.status_code == 200
    assert _Receiver.seen == [(f"receiver.test:{receiver}", b"hello")]


def test_a_large_answer_is_read_only_up_to_the_limit(receiver: int) -> None:
    _Receiver.reply = b"x" * 1_000_000
    policy = EgressPolicy(allow_private=True, resolver=resolver({}))

    with httpx.Client(transport=GuardedTransport(policy, max_response_bytes=1000)) as client:
        response = post(
            client, f"http://127.0.0.1:{receiver}/", content=b"", headers={}, policy=policy
        )

    assert len(response.content) == 1000


def test_the_guarded_client_refuses_loopback_without_the_setting(receiver: int) -> None:
    with guarded_client(EgressPolicy()) as client, pytest.raises(EgressRefused):
        client.post(f"http://127.0.0.1:{receiver}/", content=b"")

    assert _Receiver.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_link_local_and_cloud_metadata_addresses_stay_refused_when_private_targets_are_allowed(
    url: str,
) -> None:
    policy = EgressPolicy(
        allow_private=True,
        resolver=resolver({"metadata.google.internal": ["169.254.169.254"]}),
    )

    with pytest.raises(EgressRefused) as refused:
        vet_url(url, policy)

    assert refused.value.reason in ("link_local", "metadata")


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"]
)
def test_a_redirect_to_a_metadata_address_is_refused_when_private_targets_are_allowed(
    router: respx.Router, target: str
) -> None:
    policy = EgressPolicy(
        allow_private=True, follow_redirects=True, resolver=resolver({"receiver.lan": ["10.0.0.7"]})
    )
    router.post("http://receiver.lan/x").respond(302, headers={"Location": target})
    metadata = router.route(url__regex=r"http://(169\.254|\[fd00).*")

    with pytest.raises(EgressRefused):
        post(_client(router), "http://receiver.lan/x", content=b"{}", headers={}, policy=policy)

    assert not metadata.called
