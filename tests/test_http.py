"""The project's HTTP session against a misbehaving server on loopback: retries, Retry-After,
truncated bodies, hung connections, size limits, the User-Agent and the per-host bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from generator import __version__
from generator.config import expand_env, parse_config
from generator.core.errors import ConfigError
from generator.plan.specs import source_spec
from generator.sources.http import (
    HttpSettings,
    ResponseTooLarge,
    describe_error,
    fetch_text_cached,
    host_limiter,
    make_session,
    settings_for_source,
)
from tests.servers.faults import FaultServer, Reply, sequence

# Tiny timings keep every failure path fast; jitter off keeps the timing assertions exact-ish.
FAST = HttpSettings(connect_timeout=2.0, read_timeout=2.0, retries=3, backoff=0.05, backoff_max=0.2, jitter=0.0)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    fault = FaultServer().start()
    yield fault
    fault.stop()


@pytest.fixture(autouse=True)
def _fresh_routes(server: FaultServer) -> None:
    server.reset()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_503_twice_then_200_is_survived_for_get_and_post(server: FaultServer, method: str) -> None:
    server.route("/flaky", sequence(Reply(503), Reply(503), Reply.json({"ok": True})))
    response = make_session(FAST).request(method, f"{server.url}/flaky", json={"q": 1} if method == "POST" else None)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert [hit.method for hit in server.hits("/flaky")] == [method] * 3
    if method == "POST":  # the body is sent again on every retry
        assert all(hit.json() == {"q": 1} for hit in server.hits("/flaky"))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_every_transient_status_is_retried(server: FaultServer, status: int) -> None:
    server.route("/once", sequence(Reply(status), Reply(200, b"fine")))
    response = make_session(FAST).get(f"{server.url}/once")
    assert (response.status_code, response.text) == (200, "fine")
    assert len(server.hits("/once")) == 2


def test_client_errors_are_not_retried(server: FaultServer) -> None:
    server.route("/missing", sequence(Reply(404, b"nope")))
    assert make_session(FAST).get(f"{server.url}/missing").status_code == 404
    assert len(server.hits("/missing")) == 1


def test_retries_give_up_with_the_last_status(server: FaultServer) -> None:
    server.route("/down", sequence(Reply(503, b"maintenance")))
    response = make_session(FAST).get(f"{server.url}/down")
    assert response.status_code == 503
    assert len(server.hits("/down")) == 1 + FAST.retries
    with pytest.raises(requests.HTTPError) as raised:
        response.raise_for_status()
    assert describe_error(raised.value) == "HTTP 503 Service Unavailable"


def test_retry_after_is_honoured(server: FaultServer) -> None:
    server.route("/busy", sequence(Reply(429, headers={"Retry-After": "1"}), Reply(200, b"done")))
    started = time.monotonic()
    response = make_session(FAST).get(f"{server.url}/busy")
    elapsed = time.monotonic() - started
    assert response.text == "done"
    assert 0.9 <= elapsed < 5


def test_retry_after_is_capped(server: FaultServer) -> None:
    server.route("/slowdown", sequence(Reply(503, headers={"Retry-After": "3600"}), Reply(200, b"done")))
    settings = HttpSettings(retries=2, backoff=0.05, jitter=0.0, retry_after_max=0.5)
    started = time.monotonic()
    response = make_session(settings).get(f"{server.url}/slowdown")
    elapsed = time.monotonic() - started
    assert response.text == "done"
    assert 0.45 <= elapsed < 5  # waited the cap, not an hour


def test_truncated_body_is_retried(server: FaultServer) -> None:
    body = b'{"features": []}' * 100
    server.route("/cut", sequence(Reply(200, body, truncate_to=10), Reply(200, body)))
    response = make_session(FAST).get(f"{server.url}/cut")
    assert response.content == body
    assert len(server.hits("/cut")) == 2


def test_a_body_that_is_always_truncated_is_an_error(server: FaultServer) -> None:
    server.route("/always-cut", sequence(Reply(200, b"x" * 5000, truncate_to=100)))
    with pytest.raises(requests.RequestException):
        make_session(FAST).get(f"{server.url}/always-cut")
    assert len(server.hits("/always-cut")) == 1 + FAST.retries


def test_a_hung_connection_times_out(server: FaultServer) -> None:
    server.route("/hang", sequence(Reply(hang=True)))
    settings = HttpSettings(read_timeout=0.3, retries=1, backoff=0.05, jitter=0.0)
    started = time.monotonic()
    with pytest.raises(requests.RequestException) as raised:
        make_session(settings).get(f"{server.url}/hang")
    elapsed = time.monotonic() - started
    assert "timed out" in str(raised.value).lower()
    assert elapsed < 3  # two tries of 0.3 s, not the server's 20 s hang
    assert len(server.hits("/hang")) == 2


def test_a_server_that_drips_bytes_hits_the_total_timeout(server: FaultServer) -> None:
    # Each byte comes well within read_timeout, so only an overall deadline can end this.
    server.route("/drip", sequence(Reply(200, b"x" * 400, drip=0.05)))
    settings = HttpSettings(read_timeout=2.0, total_timeout=1.0, retries=0)
    started = time.monotonic()
    with pytest.raises(requests.Timeout, match=r"no complete answer within 1 s \(raise `http.total_timeout`"):
        make_session(settings).get(f"{server.url}/drip")
    assert time.monotonic() - started < 3.5  # not the 20 s the whole body would take
    patient = make_session(HttpSettings(read_timeout=2.0, total_timeout=60.0))
    server.route("/slow", sequence(Reply(200, b"y" * 20, drip=0.02)))
    assert patient.get(f"{server.url}/slow").content == b"y" * 20
    assert parse_config(
        "site: {title: t}\nsources: {s: {api: 'http://127.0.0.1:1/', http: {total_timeout: 5}}}\n"
        "collections: [{id: c, source: s}]\nregions: [{id: r, bbox: [0, 0, 1, 1]}]\n",
        Path("site_config.yml"),
    ).model.sources["s"].http.total_timeout == 5


def test_body_size_limit(server: FaultServer) -> None:
    server.route("/big", sequence(Reply(200, b"y" * 10_000)))
    with pytest.raises(ResponseTooLarge, match="over the limit of 2,048"):
        make_session(HttpSettings(max_body_bytes=2048)).get(f"{server.url}/big")
    small = make_session(HttpSettings(max_body_bytes=20_000)).get(f"{server.url}/big")
    assert len(small.content) == 10_000


def test_user_agent_names_the_project(server: FaultServer) -> None:
    server.route("/ua", sequence(Reply(200, b"ok")))
    make_session().get(f"{server.url}/ua")
    make_session(FAST).post(f"{server.url}/ua", json={})
    agents = {hit.headers.get("User-Agent") for hit in server.hits("/ua")}
    assert agents == {f"eo-timelapse-generator/{__version__}"}


def test_concurrent_requests_per_host_never_exceed_the_bound(server: FaultServer) -> None:
    server.route("/slow", sequence(Reply(200, b"ok", delay=0.15)))
    session = make_session(HttpSettings(max_per_host=3))
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            assert session.get(f"{server.url}/slow").text == "ok"
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(server.hits("/slow")) == 12
    assert 1 < server.max_in_flight("/slow") <= 3  # requests overlapped, and never past the bound


def test_bound_is_shared_by_sessions_and_limiter_is_reentrant(server: FaultServer) -> None:
    server.route("/slow2", sequence(Reply(200, b"ok", delay=0.1)))
    limit = 2
    sessions = [make_session(HttpSettings(max_per_host=limit)) for _ in range(4)]

    def fetch(session: requests.Session) -> None:
        # Holding a slot around a request to the same host must not take a second one.
        with host_limiter(server.url, limit).slot():
            session.get(f"{server.url}/slow2")

    threads = [threading.Thread(target=fetch, args=(session,)) for session in sessions * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(server.hits("/slow2")) == 8
    assert 1 < server.max_in_flight("/slow2") <= limit


def test_source_headers_with_environment_variables(server: FaultServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEST_API_TOKEN", "s3cr3t")
    config = parse_config(
        """
site: {title: t}
sources:
  api:
    api: https://stac.example.org
    headers: {Authorization: "Bearer ${TEST_API_TOKEN}", X-Cost: "$$5"}
    http: {read_timeout: 5, retries: 1, retry_after_max: 10, max_per_host: 2, max_cog_reads: 24, max_body_bytes: 4096}
collections: [{id: c, source: api}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
""",
        tmp_path / "site_config.yml",
    )
    section = config.model.sources["api"]
    settings = settings_for_source(source_spec("api", section, config), "sources.api")
    assert settings.headers == {"Authorization": "Bearer s3cr3t", "X-Cost": "$5"}
    assert (settings.read_timeout, settings.retries, settings.retry_after_max) == (5, 1, 10)
    assert (settings.max_per_host, settings.max_cog_reads, settings.max_body_bytes) == (2, 24, 4096)
    assert section.headers["Authorization"] == "Bearer ${TEST_API_TOKEN}"  # the secret is not stored
    server.route("/auth", sequence(Reply(200, b"ok")))
    make_session(settings).get(f"{server.url}/auth")
    assert server.hits("/auth")[0].headers["Authorization"] == "Bearer s3cr3t"


def test_missing_environment_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TEST_MISSING_TOKEN", raising=False)
    text = """
site: {title: t}
sources: {api: {api: "https://stac.example.org", headers: {X-Api-Key: "${TEST_MISSING_TOKEN}"}}}
collections: [{id: c, source: api}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, tmp_path / "site_config.yml")
    assert "sources.api.headers" in str(raised.value)
    assert "TEST_MISSING_TOKEN" in str(raised.value)
    with pytest.raises(ConfigError, match="TEST_MISSING_TOKEN is not set"):
        expand_env("${TEST_MISSING_TOKEN}", "sources.api.headers.X-Api-Key")


def test_bad_header_name_and_bad_http_values_are_config_errors(tmp_path: Path) -> None:
    text = """
site: {title: t}
sources: {api: {api: "https://stac.example.org", headers: {"Bad Header": x}, http: {retries: -1, bogus: 1}}}
collections: [{id: c, source: api}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, tmp_path / "site_config.yml")
    message = str(raised.value)
    assert "'Bad Header' is not a valid HTTP header name" in message
    assert "sources.api.http.retries" in message
    assert "sources.api.http.bogus: unknown key" in message


def test_region_urls_are_fetched_once(server: FaultServer) -> None:
    server.route("/region.geojson", sequence(Reply(503), Reply.json({"type": "Point", "coordinates": [1, 2]})))
    url = f"{server.url}/region.geojson?run={time.monotonic_ns()}"
    first = fetch_text_cached(url, make_session(FAST))
    second = fetch_text_cached(url, make_session(FAST))
    assert first == second == '{"type": "Point", "coordinates": [1, 2]}'
    assert len(server.hits("/region.geojson")) == 2  # one 503 + one 200, then the cache


def test_a_pickled_session_keeps_its_settings(server: FaultServer) -> None:
    """Renderers travel to worker processes by pickle; their session must stay configured."""
    import pickle

    server.route("/pickled", sequence(Reply(503), Reply(200, b"y" * 5000)))
    session = pickle.loads(pickle.dumps(make_session(HttpSettings(retries=1, backoff=0.01, max_body_bytes=4096, headers={"X-Test": "1"}))))
    with pytest.raises(ResponseTooLarge):
        session.get(f"{server.url}/pickled")
    hits = server.hits("/pickled")
    assert len(hits) == 2 and hits[-1].headers["X-Test"] == "1"
    assert hits[-1].headers["User-Agent"].startswith("eo-timelapse-generator/")
