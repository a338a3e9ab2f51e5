"""The proxy against a real upstream server: headers both ways, streaming, failures of the upstream."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx

from .conftest import GatewayFactory

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def _seen(response: httpx.Response) -> dict[str, list[str]]:
    """The headers the upstream received, by lower-case name (all values)."""
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def test_a_get_reaches_its_service_with_path_query_and_forwarding_headers(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/problems/42/photos?limit=5&q=%D1%8F%D0%BC%D0%B0")

    assert response.status_code == 200
    body = response.json()
    assert body["path"] == "/api/v1/problems/42/photos"
    assert body["query"] == "limit=5&q=%D1%8F%D0%BC%D0%B0"
    assert response.headers["x-upstream"] == "yes"
    seen = _seen(response)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [gateway.removeprefix("http://")]
    assert TRACEPARENT.match(seen["traceparent"][0])
    # A request id is generated, sent on, and echoed once.
    assert response.headers.get_list("x-request-id") == seen["x-request-id"]
    assert len(response.headers.get_list("x-request-id")) == 1
    assert len(response.headers.get_list("server")) == 1
    assert len(response.headers.get_list("date")) == 1


def test_the_callers_request_id_is_kept_and_its_trace_continued(gateway: str) -> None:
    request_id = "4b0e9b2c-4b43-4c3a-9c1d-7a3f0f5f0e11"
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = httpx.get(
        f"{gateway}/api/v1/routing-is-not-a-service/x".replace("routing-is-not-a-service", "analytics"),
        headers={"X-Request-ID": request_id, "traceparent": incoming, "tracestate": "gorod=1"},
    )

    seen = _seen(response)
    assert seen["x-request-id"] == [request_id]
    assert response.headers["x-request-id"] == request_id
    version, trace_id, parent, flags = seen["traceparent"][0].split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert parent != "b7ad6b7169203331"  # the gateway's own span
    assert seen["tracestate"] == ["gorod=1"]


def test_a_request_id_that_is_not_a_uuid_is_replaced_everywhere(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/problems/1", headers={"X-Request-ID": 'x" onclick=alert(1)'})

    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert _seen(response)["x-request-id"] == [request_id]
    # The gateway's own routes (answered by FastAPI, behind the proxy) get one too, exactly once.
    own = httpx.get(f"{gateway}/health/live", headers={"X-Request-ID": "4b0e9b2c-4b43-4c3a-9c1d-7a3f0f5f0e11"})
    assert own.headers.get_list("x-request-id") == ["4b0e9b2c-4b43-4c3a-9c1d-7a3f0f5f0e11"]


def test_a_head_request_gets_the_services_headers_and_no_body(gateway: str) -> None:
    response = httpx.head(f"{gateway}/api/v1/problems/1", timeout=5)

    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    assert response.content == b""
    assert httpx.get(f"{gateway}/api/v1/problems/1").status_code == 200  # and the gateway is none the worse


def test_hop_by_hop_and_identity_headers_never_pass(gateway: str) -> None:
    response = httpx.get(
        f"{gateway}/api/v1/problems/echo",
        headers={
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Upgrade": "websocket",
            "X-User-Id": "00000000-0000-0000-0000-000000000001",
            "X-Roles": "operator",
            "X-Forwarded-User": "admin",
            "X-Forwarded-For": "10.9.8.7",
            "X-Forwarded-Host": "evil.example.org",
            "Forwarded": "for=10.9.8.7",
            "X-Real-IP": "10.9.8.7",
        },
    )

    assert response.status_code == 200
    seen = _seen(response)
    for name in (
        "x-private-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
        "x-user-id",
        "x-roles",
        "x-forwarded-user",
        "forwarded",
        "x-real-ip",
    ):
        assert name not in seen, name
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-host"] == [gateway.removeprefix("http://")]


def test_hop_by_hop_headers_of_the_answer_are_dropped(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/problems/hop")

    assert response.status_code == 200
    assert response.text == "ok"
    assert "x-secret-hop" not in response.headers
    assert "keep-alive" not in response.headers


def test_the_answer_is_streamed_chunk_by_chunk(gateway: str) -> None:
    arrivals: list[float] = []
    with httpx.stream("GET", f"{gateway}/api/v1/problems/stream") as response:
        assert response.status_code == 200
        body = b""
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic())
            body += chunk
    assert body == b"chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"
    assert len(arrivals) >= 3  # not buffered into one piece
    assert arrivals[-1] - arrivals[0] >= 0.1


def test_a_chunked_request_body_is_streamed_to_the_service(gateway: str) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 10_000

    response = httpx.post(f"{gateway}/api/v1/problems/echo", content=body(), headers={"Content-Type": "text/plain"})

    assert response.status_code == 200
    assert response.json()["body_length"] == 100_000
    assert "chunked" in _seen(response).get("transfer-encoding", [])


def test_a_service_that_is_down_gives_a_fast_503_problem(gateway: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{gateway}/api/v1/territories?oktmo=28701000")

    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503
    assert "routing" in problem["detail"]
    assert "недоступен" in problem["detail"]
    assert response.headers["retry-after"]
    assert response.headers["x-request-id"]


def test_a_slow_service_gives_a_504_within_the_timeout(gateway: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{gateway}/api/v1/problems/slow?s=5", timeout=10)

    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert 0.9 <= elapsed < 2.5  # upstream_timeout is 1 s in this gateway
    assert response.headers["content-type"] == "application/problem+json"
    assert "не ответил вовремя" in response.json()["detail"]


def test_a_path_no_service_owns_is_a_404_problem(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_dot_segments_cannot_climb_into_another_route(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/problems/%2E%2E/%2E%2E/admin/v1/problems")

    assert response.status_code in (400, 404)
    assert response.headers["content-type"] == "application/problem+json"


def test_a_body_over_the_limit_is_refused_with_413(start_gateway: GatewayFactory) -> None:
    with start_gateway(max_body_bytes=1000, max_upload_bytes=5000) as gateway:
        declared = httpx.post(f"{gateway}/api/v1/problems/echo", content=b"x" * 1001)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert "1000" in declared.json()["detail"]

        def body() -> Iterator[bytes]:
            for _ in range(10):
                yield b"x" * 500

        chunked = httpx.post(f"{gateway}/api/v1/problems/echo", content=body())
        assert chunked.status_code == 413

        upload = httpx.post(f"{gateway}/api/v1/problems/echo", files={"file": ("a.jpg", b"y" * 3000, "image/jpeg")})
        assert upload.status_code == 200  # multipart: the upload limit applies
        fits = httpx.post(f"{gateway}/api/v1/problems/echo", content=b"x" * 1000)
        assert fits.status_code == 200


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent); labels in their sorted order."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    found = re.search(r"^" + re.escape(f"{name}{{{wanted}}}") + r" (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_proxied_requests_are_counted_on_the_gateways_metrics_by_service_and_status(gateway: str) -> None:
    name, labels = "gateway_proxied_request_duration_seconds_count", {"method": "GET", "service": "problems"}
    before = httpx.get(f"{gateway}/metrics").text
    for _ in range(3):
        assert httpx.get(f"{gateway}/api/v1/problems/ping").status_code == 200
    after = httpx.get(f"{gateway}/metrics").text
    assert sample(after, name, **labels, status="200") - sample(before, name, **labels, status="200") == 3


def test_the_gateways_own_routes_are_counted_by_route_template_beside_the_proxied_ones(gateway: str) -> None:
    """The kit's request metrics: the same names as every service's, in the registry the proxy's metrics share."""
    before = httpx.get(f"{gateway}/metrics").text
    assert httpx.get(f"{gateway}/docs").status_code == 200
    assert httpx.get(f"{gateway}/no-such-page").status_code == 404
    after = httpx.get(f"{gateway}/metrics").text
    for handler, status in (("/docs", "2xx"), ("none", "4xx")):
        labels = {"handler": handler, "method": "GET", "status": status}
        assert sample(after, "http_requests_total", **labels) - sample(before, "http_requests_total", **labels) == 1
    assert "gateway_proxied_request_duration_seconds" in after
