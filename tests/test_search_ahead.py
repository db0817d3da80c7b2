"""A STAC API's searches start ahead, a few side by side, and each animation gets its own result.

A build plans its animations one after the other; with a STAC API each plan used to wait for its
own search, behind the searches of the animations before it. The searches now start together
(up to the source's ``http.max_per_host``) on threads of the build's process. These tests run a
scripted STAC API on 127.0.0.1 that answers each search after a delay and records how many it
was serving at once, with tiny local COGs (64 px, 4 frames).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.engine.build import BuildOptions, BuildResult, build
from tests.conftest import column_values, write_cog
from tests.interrupts import interrupt_build
from tests.servers.faults import FaultServer, Reply, Request
from tests.servers.scripted_stac import scripted_api, stac_item

SEARCH_DELAY = 0.2  # seconds before each search is answered
REGIONS = 4
#: Regions whose search the API answers with a page it then sends again (a looping ``next`` link).
LOOPING = {"r1"}
#: Regions whose search the API refuses.
REFUSED = {"r2"}


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cogs")
    return [write_cog(folder / f"m{month}.tif", column_values(64) + 10 * month) for month in range(4)]


def _region_of(request: Request) -> str:
    """The region a search is for: the west edge of its ``intersects`` (or, once that was refused,
    ``bbox``) says which (``_config``)."""
    body = request.json()
    if "intersects" in body:
        west = min(x for x, _ in body["intersects"]["coordinates"][0])
    else:
        west = body["bbox"][0]
    return f"r{round(west) // 12}"


def _api(cogs: list[Path], refuse: bool) -> FaultServer:
    items = [
        stac_item(f"m{month}", f"2024-{month + 1:02d}-01T00:00:00Z", str(path), (0, 0, 64, 64), "c")
        for month, path in enumerate(cogs)
    ]

    def answer(request: Request, page: dict[str, Any], url: str) -> Reply:
        region = _region_of(request)
        if refuse and region in REFUSED:
            return Reply.json({"code": "BadRequest", "description": "this search is refused"}, status=400, delay=SEARCH_DELAY)
        if region in LOOPING:
            again = {**request.json(), "token": "again"}
            page["links"] = [{"rel": "next", "href": f"{url}/search", "method": "POST", "body": again}]
        return Reply.json(page, delay=SEARCH_DELAY)

    return scripted_api("c", items, (0, 0, 64, 64), answer=answer)


@pytest.fixture
def api(cogs: list[Path]) -> Iterator[FaultServer]:
    server = _api(cogs, refuse=False)
    yield server
    server.stop()


def _config(folder: Path, url: str, http: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    regions = "".join(f"  - {{id: r{k}, bbox: [{12 * k + 1}, 8, {12 * k + 11}, 56]}}\n" for k in range(REGIONS))
    config = folder / "site_config.yml"
    config.write_text(
        f"site: {{title: Ahead}}\nsources: {{s: {{api: '{url}/', allow_local_assets: true{http}}}}}\n"
        "collections: [{id: c, source: s}]\n"
        f"regions:\n{regions}render: {{size: 64}}\n"
    )
    return config


def _build(config: Path, jobs: int = 1) -> BuildResult:
    return build(config, config.parent / "output", options=BuildOptions(jobs=jobs, use_cache=False))


def _gif(result: BuildResult, region: str) -> bytes:
    return (result.output_dir / f"animations/c--{region}/c--{region}.gif").read_bytes()


def test_the_searches_of_a_builds_animations_run_side_by_side_and_change_nothing(cogs: list[Path], tmp_path: Path) -> None:
    results, most = [], []
    for name, http in (("ahead", ""), ("one", ", http: {max_per_host: 1}")):
        server = _api(cogs, refuse=False)
        try:
            results.append(_build(_config(tmp_path / name, server.url, http)))
            most.append(server.max_in_flight("/search"))
        finally:
            server.stop()
    side_by_side, one_by_one = results
    assert 2 <= most[0] <= 4  # side by side, within the default max_per_host
    assert most[1] == 1  # the source's per-host bound holds for them too
    assert [record.status for record in (*side_by_side.records, *one_by_one.records)] == ["ok"] * 2 * REGIONS
    for region in (f"r{k}" for k in range(REGIONS)):
        assert _gif(side_by_side, region) == _gif(one_by_one, region)


def test_a_search_ahead_warns_about_its_own_animation_only(api: FaultServer, tmp_path: Path) -> None:
    """r1's search loops (its page comes again): the note goes with r1's animation, whichever
    searches ran beside it, and no other animation gets it."""
    result = _build(_config(tmp_path, api.url), jobs=2)
    assert all(record.status == "ok" for record in result.records)
    looped = {record.region_id for record in result.records for note in record.notes if "sent page 2 again" in note}
    assert looped == LOOPING, [record.notes for record in result.records]
    searches = [hit.json() for hit in api.hits("/search")]
    assert sum(1 for body in searches if body.get("token") == "again") == 1  # r1's next page, once


def test_a_refused_search_ahead_fails_its_animation_with_the_apis_reason_and_no_other(cogs: list[Path], tmp_path: Path) -> None:
    server = _api(cogs, refuse=True)
    try:
        result = _build(_config(tmp_path, server.url, ", http: {retries: 0}"))
    finally:
        server.stop()
    status = {record.region_id: (record.status, record.error) for record in result.records}
    assert status["r2"][0] == "failed" and "this search is refused" in (status["r2"][1] or ""), status
    assert all(status[f"r{k}"] == ("ok", None) for k in range(REGIONS) if f"r{k}" not in REFUSED), status
    assert json.loads((result.output_dir / "manifest.json").read_text())["animations"]


def test_the_list_command_searches_ahead_too(api: FaultServer, tmp_path: Path) -> None:
    from generator.cli.commands import list_plan

    report = list_plan(_config(tmp_path, api.url))
    assert not report.problems and len(report.lines) == REGIONS
    assert all("4 items → 4 frames" in line for line in report.lines), report.lines
    assert api.max_in_flight("/search") >= 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_while_a_search_hangs_ends_the_command_at_once(cogs: list[Path], tmp_path: Path, jobs: int) -> None:
    """A search stuck on an API that never answers, ahead of its plan or in it (with ``--jobs 2``
    the plans run on the build's pipeline thread), runs on a daemon thread: Ctrl-C ends the
    command now, not once the search's timeouts (here 30 s) and retries have run out."""
    from generator.cli.main import EXIT_INTERRUPTED

    server = scripted_api("c", [], (0, 0, 64, 64), answer=lambda request, page, url: Reply(hang=True))
    try:
        config = _config(tmp_path, server.url, ", http: {read_timeout: 30, retries: 0}")
        outcome = interrupt_build(config, jobs, lambda: bool(server.hits("/search")))
    finally:
        server.stop()
    assert outcome.returncode == EXIT_INTERRUPTED, outcome.stderr
    assert "interrupted" in outcome.stderr
    assert outcome.waited < 5, f"the command took {outcome.waited:.1f} s to end after Ctrl-C"
    assert not outcome.left_running, "a process of the build outlived it"


def test_searches_ahead_wait_for_their_plans_sixteen_at_most(tmp_path: Path) -> None:
    """A gallery of thousands of animations does not hold thousands of search results at once:
    the searches start as their plans take the results before them."""
    from concurrent.futures import Executor, Future

    import shapely

    from generator.core.model import SourceItem
    from generator.plan.schedule import BuildSource, SearchCache
    from generator.sources.regions import Region

    class Searched:
        name, notes = "s", []

        def for_search_beside(self) -> Searched:
            return self

        def items(self, *_: object) -> list[SourceItem]:
            return []

    class AtOnce(Executor):
        """Runs each search as it is submitted, and counts them."""

        submitted = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            self.submitted += 1
            future: Future[Any] = Future()
            future.set_result(fn(*args, **kwargs))
            return future

    searches, threads, source = SearchCache(None, 0), AtOnce(), BuildSource(Searched())  # type: ignore[arg-type]
    regions = [Region(id=f"r{k}", title=f"r{k}", geometry=shapely.box(k, 0, k + 1, 1)) for k in range(40)]
    for region in regions:
        searches.search_ahead(threads, source, "{}", "c", None, region, None)
    assert threads.submitted == 0  # the source has not answered yet
    source.ask(lambda: None)
    assert threads.submitted == SearchCache.AHEAD_RESULTS
    searches.found(source, "{}", "c", None, regions[0], None)
    assert threads.submitted == SearchCache.AHEAD_RESULTS + 1
    searches.found(source, "{}", "c", None, regions[39], None)  # queued, not started: searched by its plan
    assert threads.submitted == SearchCache.AHEAD_RESULTS + 1 and len(searches.queued) == 40 - 17 - 1
