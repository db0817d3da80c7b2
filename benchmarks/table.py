"""The performance table in one run (a script, not a test): every row as a ratio against its goal.

Run: ``python benchmarks/table.py [rounds] [parts]`` (default 5 rounds of parts ``nirfdt``; add
``j`` for ``--jobs 2`` vs ``--jobs 1``). Each part is one row of the README's performance table:

n  one animation (France, 24 monthly frames, the 96 départements' borders, the date, GIF only,
   cold: a fresh process, no cache) built by ``python -m generator build`` vs the notebook this
   tool replaces, re-created faithfully against a real TiTiler on 127.0.0.1 on the same COGs:
   one ``POST /cog/feature`` PNG per item (rescale + colormap on the server) with 10 threads,
   each département's border rasterized and dilated with scipy, the date drawn with Pillow and
   Pillow's GIF writer given the RGB frames (it quantizes each one). The notebook's CPU time
   includes the TiTiler server's (it is measured from the server process before and after).
   The notebook draws the borders on every frame (each département rasterized and dilated per
   frame); the ratio against a kinder version that makes the border mask once is printed too,
   and the row's floor: the notebook against a fresh interpreter importing the libraries a frame
   needs plus the 24 reads alone (``cold_floor``), what no cold build can spend less on.
i  CPU time of ``python -c "import generator.engine.build"`` (absolute: goal ≤ 0.3 s).
r  warm rebuild, nothing changed, vs the cold build, on ``benchmarks/engine.py``'s gallery
   (576 frames): whole processes (``python -m generator build``; the cold one runs once) and
   inside the process (``engine.build``, after imports).
f  cold demo build (``site_config.yml``) with ``formats: [gif, webp, mp4]`` vs ``[gif]``, and the
   floor: the GIF-only build plus the CPU libwebp and x264 spent inside the 3-format builds.
d  bilinear and average vs nearest when downsampling: one read (24 COGs at 0.005° over France
   onto a 512 px grid) and a whole one-animation build (24 COGs at 0.01°, cache off).
t  local renderer vs TiTiler on loopback (``benchmarks/renderers.py``'s 24 frames), per frame: the
   CPU a frame costs (TiTiler's server included), as in every other row. Beside it, frames per
   second at equal concurrency (the local renderer reading 2 frames at once, as a ``--jobs 2``
   build's two workers do, vs TiTiler's 4 requests in flight, whose server uses both cores too)
   and, as this row was first measured, against the local renderer on one thread (TiTiler then
   has both cores and the local renderer one: not a per-frame comparison).
j  ``--jobs 2`` vs ``--jobs 1``: cold builds of the demo (``site_config.yml``) as
   ``python -m generator build`` runs them, in rotation (``benchmarks/engine.py --demo``), wall
   time. Beside it, the machine's ceiling: two ``--jobs 1`` builds started at once, which share
   nothing, against one alone.

Timings are medians of interleaved runs (each contender once per round, so a busy moment of the
shared machine hits all of them alike). CPU time counts every thread and child process
(``resource.getrusage``) and, for TiTiler, the server; it is the steadier measure on a shared
machine, so the ratios use it, with wall time printed beside. Subprocesses run with Python's
bytecode cache on (as a user's install has it). Prints the table, then the numbers as JSON.
"""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from generator.core.model import Grid

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
FRANCE = REPO / "regions" / "france.geojson"
DEPARTEMENTS = REPO / "regions" / "france-borders.geojson"
NO2_RESCALE = (0.0, 1.5e16)  # the demo's style for no2-monthly


@dataclass
class Timing:
    cpu: float  # median CPU seconds: every thread, child process and (TiTiler) server
    wall: float  # median wall seconds


@dataclass
class Row:
    name: str
    value: float  # what the goal is about (a ratio, or seconds for the import row)
    goal: str
    met: bool
    detail: str


def france_grid() -> tuple[Grid, BaseGeometry]:
    """The 512 px grid of an animation over France (``crs: auto``), and France in its CRS."""
    from generator.render.grid import make_grid, output_crs, project
    from generator.sources.regions import region_outline

    region = region_outline(json.loads(FRANCE.read_text()), "France")
    crs = output_crs("auto", region)
    projected = project(region, crs)
    return make_grid(projected, crs, 512), projected


def cpu_now(extra: Callable[[], float] | None = None) -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return total + (extra() if extra else 0.0)


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, extra: Callable[[], float] | None = None
) -> dict[str, Timing]:
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            started, started_cpu = time.perf_counter(), cpu_now(extra)
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(cpu_now(extra) - started_cpu)
    return {name: Timing(statistics.median(cpu[name]), statistics.median(wall[name])) for name in contenders}


def run_python(*args: str, cwd: Path = REPO) -> None:
    subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)


def versus(one: Timing, other: Timing) -> str:
    return (
        f"CPU {one.cpu:.2f} s vs {other.cpu:.2f} s ({one.cpu / other.cpu:.2f}×), "
        f"wall {one.wall:.2f} s vs {other.wall:.2f} s ({one.wall / other.wall:.2f}×)"
    )


# --------------------------------------------------------------------------------------------
# n: the notebook's way vs one animation built by this tool


def demo_no2_items() -> list[tuple[str, str]]:
    """(COG path, YYYY-MM) of the demo's 24 no2-monthly items."""
    items = []
    for cog in sorted((REPO / "demo" / "no2-monthly").glob("*/*.tif")):
        items.append((str(cog), cog.stem.removeprefix("no2-monthly-")))
    return items


def notebook_animation(server: str, output: Path, borders_once: bool) -> None:
    """The notebook's pipeline (imports included: it runs in a fresh process).

    The borders are drawn on each frame (each département rasterized and dilated per frame), or
    with ``borders_once`` made once for the animation and reused.
    """
    import requests
    import shapely
    from PIL import Image, ImageDraw
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds
    from scipy.ndimage import binary_dilation

    france = json.loads(FRANCE.read_text())
    items = demo_no2_items()
    west, south, east, north = shapely.geometry.shape(france["geometry"]).bounds
    # TiTiler answers in the feature's CRS (lon/lat here); 512 px wide, as our animation.
    width, height = 512, round(512 * (north - south) / (east - west))
    session = requests.Session()

    query: dict[str, str | int] = {
        "rescale": f"{NO2_RESCALE[0]},{NO2_RESCALE[1]}", "colormap_name": "viridis",
        "width": width, "height": height, "format": "png",
    }

    def fetch(href: str) -> Image.Image:
        response = session.post(
            f"{server}/cog/feature",
            params=query | {"url": href},
            json=france, timeout=120,
        )
        response.raise_for_status()
        return Image.open(io.BytesIO(response.content)).convert("RGBA")

    with ThreadPoolExecutor(max_workers=10) as pool:
        images = list(pool.map(fetch, [href for href, _ in items]))
    assert images[0].size == (width, height), images[0].size
    transform = from_bounds(west, south, east, north, width, height)
    departements = [shapely.geometry.shape(feature["geometry"]) for feature in json.loads(DEPARTEMENTS.read_text())["features"]]

    def border_mask() -> np.ndarray:
        """Each département's outline rasterized and thickened by one pixel, as the notebook does."""
        borders = np.zeros((height, width), dtype=bool)
        for departement in departements:
            drawn = rasterize([departement.boundary], out_shape=(height, width), transform=transform, dtype="uint8")
            borders |= binary_dilation(drawn.astype(bool), iterations=1)
        return borders

    once = border_mask() if borders_once else None
    frames = []
    for image, (_, date) in zip(images, items, strict=True):
        borders = once if once is not None else border_mask()
        rgba = np.array(image)
        rgba[borders] = (40, 40, 40, 255)
        frame = Image.new("RGB", (width, height), "white")
        frame.paste(Image.fromarray(rgba), mask=Image.fromarray(rgba[..., 3]))
        ImageDraw.Draw(frame).text((8, 8), date, fill="black")
        frames.append(frame)
    frames[0].save(output, save_all=True, append_images=frames[1:], duration=300, loop=0)


def server_cpu(pid: int) -> Callable[[], float]:
    import psutil

    process = psutil.Process(pid)

    def seconds() -> float:
        times = process.cpu_times()
        return times.user + times.system

    return seconds


def titiler_pid() -> int:
    import psutil

    servers = [
        child for child in psutil.Process().children(recursive=True) if "uvicorn" in " ".join(child.cmdline())
    ]
    assert len(servers) == 1, servers
    return servers[0].pid


def one_animation_config(folder: Path) -> Path:
    text = (REPO / "site_config.yml").read_text(encoding="utf-8")
    text = text.replace("demo/catalog.json", str(REPO / "demo" / "catalog.json"))
    text = text.replace("regions/", str(REPO / "regions") + "/")
    text = text.replace("formats: [gif, webp, mp4]", "formats: [gif]")
    path = folder / "one-animation.yml"
    path.write_text(text, encoding="utf-8")
    return path


def notebook_row(folder: Path, rounds: int) -> Row:
    from tests.servers.titiler import start_titiler

    config = one_animation_config(folder)
    runs = iter(range(10**6))

    def ours() -> None:
        number = next(runs)
        run_python(
            "-m", "generator", "build", "-q", "--config", str(config), "--only", "no2-monthly--france",
            "--output", str(folder / f"ours-{number}"), "--no-cache", "--jobs", "1",
        )
        assert (folder / f"ours-{number}" / "animations" / "no2-monthly--france" / "no2-monthly--france.gif").exists()

    with start_titiler() as server:
        extra = server_cpu(titiler_pid())

        def notebook(borders: str) -> Callable[[], None]:
            def run() -> None:
                number = next(runs)
                run_python(__file__, "--notebook", server.url, str(folder / f"notebook-{number}.gif"), borders)

            return run

        run_python(__file__, "--notebook", server.url, str(folder / "warm-up.gif"), "once")  # the server's imports
        timings = interleaved(
            {"ours": ours, "notebook": notebook("per-frame"), "notebook-once": notebook("once")}, rounds, extra
        )
    speedup = timings["notebook"].cpu / timings["ours"].cpu
    kinder = timings["notebook-once"].cpu / timings["ours"].cpu
    imports, reads = cold_floor(rounds)
    floor = timings["notebook"].cpu / (imports + reads)
    return Row(
        "one animation vs the notebook's way", speedup, "≥ 10×", speedup >= 10,
        f"{speedup:.1f}× less CPU, {timings['notebook'].wall / timings['ours'].wall:.1f}× less wall time "
        f"(notebook {timings['notebook'].cpu:.2f} s CPU incl. TiTiler / {timings['notebook'].wall:.2f} s wall; "
        f"ours {timings['ours'].cpu:.2f} s / {timings['ours'].wall:.2f} s); {kinder:.1f}× less CPU "
        f"than the notebook drawing its borders once ({timings['notebook-once'].cpu:.2f} s); a floor of {floor:.1f}× "
        f"for any cold process that imports the libraries a frame needs ({imports:.2f} s) and reads the 24 frames "
        f"as the local renderer does, its bilinear map included ({reads:.2f} s), before any border, GIF or page",
    )


#: The libraries a cold process needs to read and warp a COG and write an image, imported at once;
#: rasterio without boto3, as the build imports it (``render.rasterio_import``).
FRAME_LIBRARIES = (
    "import sys; sys.modules['boto3'] = None\n"
    "import numpy, rasterio, rasterio.warp, pyproj, shapely, PIL.Image"
)


def cold_floor(rounds: int) -> tuple[float, float]:
    """CPU seconds of a fresh interpreter importing :data:`FRAME_LIBRARIES`, and of the 24 reads of
    the demo's no2 items onto the animation's grid (its style: bilinear, from the collection's
    ``renders``) in a warm process, each round making its bilinear map again as a build does:
    less than any cold one-animation build can spend on them."""
    from generator.core import buildcache
    from generator.core.model import ItemAsset, Style
    from generator.render.local import LocalRenderer

    imports = interleaved({"imports": lambda: run_python("-c", FRAME_LIBRARIES)}, max(rounds, 5))["imports"].cpu
    grid, _ = france_grid()
    when = datetime(2021, 1, 1, tzinfo=UTC)
    items = [ItemAsset(date, when, href) for href, date in demo_no2_items()]
    style = Style(rescale=NO2_RESCALE, resampling="bilinear")
    renderer = LocalRenderer()

    def read_all() -> None:
        buildcache.clear()  # a build's maps are the build's
        for item in items:
            renderer.read(item, grid, style)

    reads = interleaved({"reads": read_all}, max(rounds, 3) + 1)
    return imports, reads["reads"].cpu


# --------------------------------------------------------------------------------------------
# i: import time


def import_row(rounds: int) -> Row:
    timings = interleaved(
        {
            "bare": lambda: run_python("-c", "pass"),
            "build": lambda: run_python("-c", "import generator.engine.build"),
        },
        max(rounds, 9),
    )
    seconds = timings["build"].cpu
    return Row(
        "import generator.engine.build", seconds, "≤ 0.3 s CPU", seconds <= 0.3,
        f"{seconds:.2f} s CPU ({seconds - timings['bare'].cpu:.2f} s above a bare interpreter), "
        f"{timings['build'].wall:.2f} s wall",
    )


# --------------------------------------------------------------------------------------------
# r: warm rebuild


def warm_rows(folder: Path, rounds: int) -> list[Row]:
    from engine import write_site

    from generator.core.memo import BuildMemo
    from generator.engine.animation import BuildOptions
    from generator.engine.build import build

    config = write_site(folder / "engine", 4, 48)
    cli = ["-m", "generator", "build", "-q", "--config", str(config), "--output", str(folder / "cli-out"),
           "--cache-dir", str(folder / "cli-cache"), "--jobs", "1"]
    cold = interleaved({"cold": lambda: run_python(*cli)}, 1)["cold"]
    warm = interleaved({"warm": lambda: run_python(*cli)}, rounds)["warm"]
    whole = warm.cpu / cold.cpu

    # One memo for every build of the row, as a process that rebuilds would pass: the warm builds
    # find the records and search entries the cold one decoded (a build without one decodes them).
    options = BuildOptions(jobs=1, cache_dir=folder / "cache", memo=BuildMemo())
    in_cold = interleaved({"cold": lambda: build(config, folder / "out", options=options)}, 1)["cold"]
    in_warm = interleaved({"warm": lambda: build(config, folder / "out", options=options)}, rounds)["warm"]
    inside = in_warm.cpu / in_cold.cpu
    return [
        Row(
            "warm rebuild, whole process", 100 * whole, "≤ 8 % of cold", whole <= 0.08,
            f"{100 * whole:.1f} % of the cold build's CPU ({warm.cpu:.2f} s vs {cold.cpu:.1f} s; "
            f"wall {warm.wall:.2f} s vs {cold.wall:.1f} s, {100 * warm.wall / cold.wall:.1f} %)",
        ),
        Row(
            "warm rebuild, in the process", 100 * inside, "≤ 1 % of cold", inside <= 0.01,
            f"{100 * inside:.2f} % ({in_warm.cpu:.2f} s vs {in_cold.cpu:.1f} s CPU; "
            f"wall {in_warm.wall:.2f} s vs {in_cold.wall:.1f} s)",
        ),
    ]


def jobs_row(folder: Path, rounds: int) -> Row:
    """The README's row: cold demo builds as ``python -m generator build`` runs them, ``--jobs 1``
    and ``2`` and two ``--jobs 1`` builds at once, in rotation (``benchmarks/engine.py --demo``);
    wall time, the workers' CPU and the machine's ceiling beside."""
    from engine import DEMO_CONTENDERS, demo_cold_builds, demo_medians

    medians = demo_medians(demo_cold_builds(max(3, rounds), folder / "jobs"))
    (one, cpu_one), (two, cpu_two), (pair, _) = (medians[name] for name in DEMO_CONTENDERS)
    speedup = one / two
    return Row(
        "--jobs 2 vs --jobs 1, cold demo build (wall)", speedup, "≥ 1.7×", speedup >= 1.7,
        f"{speedup:.2f}× faster ({two:.2f} s vs {one:.2f} s wall; CPU with the workers' {cpu_two:.2f} s vs "
        f"{cpu_one:.2f} s); two --jobs 1 builds at once: {2 * one / pair:.2f}× the throughput of one",
    )


# --------------------------------------------------------------------------------------------
# f: formats


def formats_row(folder: Path, rounds: int) -> Row:
    from encoders import codec_clocks, demo_config

    from generator.engine.animation import BuildOptions
    from generator.engine.build import build

    configs = {"gif": demo_config(folder, "gif"), "all": demo_config(folder, "gif, webp, mp4")}
    runs = iter(range(10**6))

    def cold(config: Path) -> Callable[[], object]:
        return lambda: build(config, folder / f"formats-{next(runs)}", options=BuildOptions(jobs=1, use_cache=False))

    codecs: list[tuple[float, float]] = []  # (libwebp, x264) CPU seconds of each 3-format build

    def clocked(config: Path) -> Callable[[], object]:
        def run() -> object:
            with codec_clocks() as (libwebp, x264):
                try:
                    return cold(config)()
                finally:
                    codecs.append((libwebp.seconds, x264.seconds))

        return run

    timings = interleaved({"gif": cold(configs["gif"]), "all": clocked(configs["all"])}, rounds)
    ratio = timings["all"].cpu / timings["gif"].cpu
    # Were every line of ours around the codecs free, a 3-format build would still cost the
    # GIF-only build plus the codecs' own CPU (libwebp's includes the thumbnails', ≈ 1 %).
    webp_s = statistics.median(webp_cpu for webp_cpu, _ in codecs)
    x264_s = statistics.median(x264_cpu for _, x264_cpu in codecs)
    floor = (timings["gif"].cpu + webp_s + x264_s) / timings["gif"].cpu
    return Row(
        "cold demo build, 3 formats vs GIF only", ratio, "≤ 1.25×", ratio <= 1.25,
        f"{versus(timings['all'], timings['gif'])}; the codecs alone: libwebp {webp_s:.2f} s + x264 {x264_s:.2f} s, "
        f"a floor of {floor:.2f}×",
    )


# --------------------------------------------------------------------------------------------
# d: downsampling kernels


def fine_cog(path: Path, res: float, seed: int) -> Path:
    """A smooth float32 field over France at ``res`` degrees, a COG with 512 px blocks and overviews."""
    import rasterio
    from rasterio.shutil import copy as copy_dataset
    from rasterio.transform import from_origin

    width, height = round(14 / res), round(10 / res)
    rows, cols = np.mgrid[0:height, 0:width].astype("float32")
    data = 50 + 40 * np.sin(cols * res / 1.5 + seed / 3) * np.cos(rows * res / 1.1) + np.sin(cols * res * 40) * 3
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(-6, 52, res, res), nodata=-9999,
    )
    plain = path.with_suffix(".plain.tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data, 1)
    copy_dataset(plain, path, driver="COG", blocksize=512, overviews="AUTO", compress="DEFLATE")
    plain.unlink()
    return path


def fine_catalog(root: Path, res: float, count: int) -> Path:
    """A static catalog of ``count`` monthly fine COGs and a one-animation config over France."""
    links = []
    for number in range(count):
        item_id = f"fine-{number:02d}"
        fine_cog(root / item_id / f"{item_id}.tif", res, number)
        item = {
            "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "fine",
            "geometry": {"type": "Polygon", "coordinates": [[[-6, 42], [8, 42], [8, 52], [-6, 52], [-6, 42]]]},
            "bbox": [-6, 42, 8, 52],
            "properties": {"datetime": f"{2020 + number // 12}-{number % 12 + 1:02d}-01T00:00:00Z"},
            "assets": {"data": {"href": f"./{item_id}.tif", "roles": ["data"]}},
            "links": [{"rel": "collection", "href": "../collection.json"}],
        }
        (root / item_id / f"{item_id}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{item_id}/{item_id}.json"})
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": "fine", "description": "benchmark", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-6, 42, 8, 52]]}, "temporal": {"interval": [[None, None]]}}, "links": links,
    }
    (root / "collection.json").write_text(json.dumps(collection))
    return root / "collection.json"


def kernel_config(folder: Path, catalog: Path, resampling: str) -> Path:
    path = folder / f"fine-{resampling}.yml"
    path.write_text(
        "site: {title: Benchmark}\n"
        f"sources: {{s: {{catalog: {catalog}}}}}\n"
        f"collections: [{{id: fine, source: s, style: {{rescale: [0, 100], colormap: viridis, resampling: {resampling}}}}}]\n"
        f"regions: [{{id: france, geometry: {FRANCE}}}]\n"
        "render: {size: 512, formats: [gif]}\n"
    )
    return path


def downsampling_rows(folder: Path, rounds: int) -> list[Row]:
    from generator.core import buildcache
    from generator.core.model import ItemAsset, Style
    from generator.engine.animation import BuildOptions
    from generator.engine.build import build
    from generator.render.local import LocalRenderer

    grid, _ = france_grid()
    when = datetime(2020, 1, 1, tzinfo=UTC)
    items = [ItemAsset(f"r{n}", when, str(fine_cog(folder / "reads" / f"r{n}.tif", 0.005, n))) for n in range(24)]
    renderer = LocalRenderer()

    def reads(resampling: str) -> Callable[[], object]:
        """The 24 reads as a build makes them: the files opened and the maps made again (a
        process keeps 64 files open: rounds would otherwise read them warm)."""
        style = Style(rescale=(0, 100), resampling=resampling)

        def read_all() -> list[object]:
            buildcache.clear()
            return [renderer.read(item, grid, style) for item in items]

        return read_all

    per_read = interleaved({name: reads(name) for name in ("nearest", "bilinear", "average")}, rounds)
    catalog = fine_catalog(folder / "fine", 0.01, 24)
    runs = iter(range(10**6))

    def whole(resampling: str) -> Callable[[], object]:
        config = kernel_config(folder, catalog, resampling)
        return lambda: build(config, folder / f"kernel-{next(runs)}", options=BuildOptions(jobs=1, use_cache=False))

    builds = interleaved({name: whole(name) for name in ("nearest", "bilinear")}, rounds)
    worst = max(per_read["bilinear"].cpu, per_read["average"].cpu) / per_read["nearest"].cpu
    ms = {name: 1000 * timing.cpu / len(items) for name, timing in per_read.items()}
    build_ratio = builds["bilinear"].cpu / builds["nearest"].cpu
    return [
        Row(
            "bilinear/average vs nearest, one read", worst, "≤ 1.5×", worst <= 1.5,
            f"bilinear {ms['bilinear'] / ms['nearest']:.2f}×, average {ms['average'] / ms['nearest']:.2f}× "
            f"({ms['nearest']:.0f} / {ms['bilinear']:.0f} / {ms['average']:.0f} ms CPU per read, "
            f"{grid.width}×{grid.height} px from 0.005° COGs)",
        ),
        Row(
            "bilinear vs nearest, whole build", build_ratio, "≤ 1.2×", build_ratio <= 1.2,
            f"{versus(builds['bilinear'], builds['nearest'])} (24 frames from 0.01° COGs, GIF, cache off)",
        ),
    ]


# --------------------------------------------------------------------------------------------
# t: renderers


def renderers_row(folder: Path, rounds: int) -> Row:
    """CPU per frame is the row's number: what a frame costs whatever the cores, the measure of
    every other row. Frames per second is printed at equal concurrency (2 local readers: threads,
    as GDAL warps without the GIL, where a ``--jobs 2`` build has two worker processes; TiTiler:
    the 4 requests in flight a build gives it) and, as first measured, with one local reader.
    Each local round reads as a build does: it opens the files and makes its bilinear map again."""
    from renderers import synthetic_frames

    from generator.core import buildcache
    from generator.core.model import Style
    from generator.render.local import LocalRenderer, render_frames
    from generator.render.titiler import TitilerRenderer
    from generator.sources.http import HttpSettings, make_session
    from tests.servers.titiler import start_titiler

    grid, projected = france_grid()
    style = Style(rescale=(0, 100), resampling="bilinear")
    frames = synthetic_frames(folder / "renderers", 24)
    local = LocalRenderer()
    list(render_frames(frames, grid, style, local, projected, workers=2))  # warm-up: both reader threads' imports

    def local_build(workers: int) -> list[object]:
        """The 24 frames as a build reads them: its own opens and bilinear map, none kept from before."""
        buildcache.clear()
        return list(render_frames(frames, grid, style, local, projected, workers=workers))

    with start_titiler() as server:
        extra = server_cpu(titiler_pid())
        titiler = TitilerRenderer(server.url, make_session(HttpSettings(max_per_host=4)), concurrency=4)
        list(render_frames(frames[:1], grid, style, titiler, projected))  # warm-up: the server's imports
        timings = interleaved(
            {
                "local": lambda: local_build(1),
                "local ×2": lambda: local_build(2),
                "titiler": lambda: list(render_frames(frames, grid, style, titiler, projected)),
            },
            rounds, extra,
        )
    cpu = timings["titiler"].cpu / timings["local"].cpu
    equal = timings["titiler"].wall / timings["local ×2"].wall
    one = timings["titiler"].wall / timings["local"].wall
    ms = {name: 1000 * timing.cpu / len(frames) for name, timing in timings.items()}
    rate = {name: len(frames) / timing.wall for name, timing in timings.items()}
    return Row(
        "local renderer vs TiTiler on loopback, per frame", cpu, "≥ 4×", cpu >= 4,
        f"{cpu:.2f}× less CPU per frame ({ms['local']:.1f} vs {ms['titiler']:.1f} ms, TiTiler's server included; "
        f"{ms['local ×2']:.1f} ms with 2 local readers); frames/s at equal concurrency {equal:.2f}× "
        f"({rate['local ×2']:.0f} with 2 local readers vs {rate['titiler']:.0f} with TiTiler's 4 requests in flight), "
        f"{one:.2f}× with 1 local reader ({rate['local']:.0f} frames/s, the row's first measure)",
    )


# --------------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--notebook"]:
        notebook_animation(sys.argv[2], Path(sys.argv[3]), borders_once=sys.argv[4:5] == ["once"])
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    parts = sys.argv[2] if len(sys.argv) > 2 else "nirfdt"
    subprocess.run([sys.executable, "-m", "compileall", "-q", "generator"], cwd=REPO, env=ENV, check=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-table-") as temporary:
        folder = Path(temporary)
        steps: dict[str, Callable[[], list[Row]]] = {
            "n": lambda: [notebook_row(folder, rounds)],
            "i": lambda: [import_row(rounds)],
            "r": lambda: warm_rows(folder, rounds),
            "f": lambda: [formats_row(folder, rounds)],
            "d": lambda: downsampling_rows(folder, rounds),
            "t": lambda: [renderers_row(folder, rounds)],
            "j": lambda: [jobs_row(folder, rounds)],
        }
        for part in parts:
            started = time.perf_counter()
            try:
                new = steps[part]()
            except Exception:  # one broken part does not lose the others' numbers
                traceback.print_exc()
                continue
            for row in new:
                print(f"{row.name:<48} {'met' if row.met else 'MISSED':<6} goal {row.goal:<14} {row.detail}", flush=True)
            print(f"  ({part}: {time.perf_counter() - started:.0f} s)", flush=True)
            rows.extend(new)
    print(f"{os.cpu_count()} CPUs, medians of {rounds} interleaved rounds, {datetime.now(UTC):%Y-%m-%d}")
    print(json.dumps([row.__dict__ for row in rows], ensure_ascii=False))


if __name__ == "__main__":
    main()
