"""Ctrl-C ends a build at once, whatever server it waits on.

Servers on 127.0.0.1 that take every request and never answer stand for a TiTiler, an XYZ tile
server and a COG host that hang. The build's HTTP read timeout is 30 s: a command that waited for
its requests would take that long after Ctrl-C; it must end within 5 s, with the interrupted
exit code, and leave no worker or fork server running. (A STAC API that hangs:
``test_search_ahead``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from generator.cli.main import EXIT_INTERRUPTED
from tests.conftest import FakeItem, write_catalog, write_cog
from tests.interrupts import interrupt_build
from tests.servers.faults import FaultServer, Reply


class _EveryPathHangs(dict):
    def get(self, path: object, default: object = None) -> object:
        return lambda request: Reply(hang=True)


@pytest.fixture
def hanging() -> Iterator[FaultServer]:
    server = FaultServer().start()
    server.routes = _EveryPathHangs()
    try:
        yield server
    finally:
        server.stop()


def _config(folder: Path, server: str, what_hangs: str) -> Path:
    if what_hangs == "cogs":
        hrefs: list[Path | str] = [f"{server}/m{month}.tif" for month in range(4)]
    else:
        hrefs = [write_cog(folder / f"m{month}.tif", np.full((64, 64), 10.0 * month)) for month in range(4)]
    items = [FakeItem(f"m{month}", f"2020-0{month + 1}-01T00:00:00Z", href) for month, href in enumerate(hrefs)]
    catalog = write_catalog(folder / "catalog", "c", items, renders={"data": {"rescale": [[0, 100]], "colormap_name": "viridis"}})
    source = f"catalog: '{catalog}', http: {{read_timeout: 30, retries: 0}}"
    render = "size: 64"
    if what_hangs == "titiler":
        source += f", raster_api: '{server}'"
        render += ", renderer: titiler"
    if what_hangs == "basemap tiles":
        render += f", basemap: {{url: '{server}/{{z}}/{{x}}/{{y}}.png', attribution: tiles}}"
    config = folder / "site_config.yml"
    config.write_text(
        f"site: {{title: Interrupted}}\nsources: {{s: {{{source}}}}}\ncollections: [{{id: c, source: s}}]\n"
        f"regions:\n  - {{id: r, bbox: [1, 8, 11, 56]}}\nrender: {{{render}}}\n"
    )
    return config


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("what_hangs", ["titiler", "basemap tiles", "cogs"])
def test_ctrl_c_ends_a_build_waiting_on_a_server_at_once(hanging: FaultServer, tmp_path: Path, what_hangs: str, jobs: int) -> None:
    config = _config(tmp_path, hanging.url, what_hangs)
    outcome = interrupt_build(config, jobs, lambda: bool(hanging.requests))
    assert outcome.returncode == EXIT_INTERRUPTED, outcome.stderr
    assert "interrupted" in outcome.stderr
    assert outcome.waited < 5, f"the command took {outcome.waited:.1f} s to end after Ctrl-C"
    assert not outcome.left_running, "a process of the build outlived it"
