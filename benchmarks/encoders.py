"""Benchmark of the output formats (a script, not a test): what WebP and MP4 add to a build.

Builds the demo gallery (``site_config.yml``: 6 animations of 24 frames, about 512 px) into a
temporary folder and measures, as medians of interleaved runs (each contender runs once per
round, so a slow moment of the machine hits all of them alike):

a. a cold build (cache off, ``jobs=1``) with ``formats: [gif, webp, mp4]`` vs ``[gif]``: whole
   builds, not the encoders alone, so the ratio is what a user waits for;
b. WebP as written before (every frame whole, method 3, quality 25) vs ``write_webp`` (changed
   rectangles, their unchanged pixels transparent and blended, ``webp.LOSSLESS_METHOD``/
   ``LOSSLESS_QUALITY``): time, size, and whether every frame decodes to the same RGBA;
c. MP4 the old way (RGB frame → swscale → yuv420p, one frame per 100 ms tick, so a frame of n
   ticks is encoded n times; x264 with its own threads and B-frames) vs ``write_mp4``: time,
   frames encoded, size;
d. our GIF writer vs Pillow saving the same shared-palette ``P`` frames
   (``save_all=True, append_images=…, optimize=False``): time and size;
e. ``write_mp4`` with x264's preset alone (``veryfast``) vs with ``mp4._X264_PARAMS`` on top:
   time, size, and the PSNR of the decoded frames against the planes x264 was given;
f. where the CPU of ``write_webp`` and ``write_mp4`` goes, the demo's frames in one go as a build
   encodes them: libwebp (Pillow's ``WebPEncode`` call: the hand-over of the RGBA and libwebp's
   encoding), x264 (PyAV's ``encode``: the hand-over of the planes and x264's encoding), and the
   rest, our code around them (changed rectangles, colour look-ups, YUV planes, the container).
   The codecs' share is what no change of ours can cut without changing the files.

Every line gives CPU time (the process's, every thread included: x264's and libwebp's) and
wall time; CPU time is the steadier one when other work shares the machine. (b)-(d) run on the
demo's frames (the index PNGs the build keeps in ``animations/*/frames``).
Run: ``python benchmarks/encoders.py [rounds] [parts]`` (default 5 rounds of parts ``abcdef``;
about 3 minutes on 2 cores; ``python benchmarks/encoders.py 9 d`` runs only the GIF part).
"""

from __future__ import annotations

import io
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from generator.encode import mp4, webp
from generator.encode.gif import GifWriter
from generator.encode.indexed import CanvasRect, RgbaLookup
from generator.encode.mp4 import YuvTable, write_mp4
from generator.engine.build import BuildOptions, build

REPO = Path(__file__).resolve().parents[1]
OLD_WEBP = (3, 25)  # (method, quality) before: every frame whole


@dataclass
class DemoAnimation:
    name: str
    frames: list[np.ndarray]
    palette: bytes
    transparent: int | None
    durations: list[int]


def demo_config(folder: Path, formats: str) -> Path:
    """The demo's config with absolute paths, written in ``folder``, with ``formats``."""
    text = (REPO / "site_config.yml").read_text(encoding="utf-8")
    text = text.replace("demo/catalog.json", str(REPO / "demo" / "catalog.json"))
    text = text.replace("regions/", str(REPO / "regions") + "/")
    text = text.replace("formats: [gif, webp, mp4]", f"formats: [{formats}]")
    assert f"formats: [{formats}]" in text
    path = folder / f"config-{formats.replace(', ', '-')}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def load_demo(output: Path) -> list[DemoAnimation]:
    animations = []
    for folder in sorted((output / "animations").iterdir()):
        frames, palette, transparent = [], b"", None
        for png in sorted((folder / "frames").glob("*.png")):
            with Image.open(png) as image:
                frames.append(np.asarray(image))
                palette = bytes(image.getpalette("RGB") or b"").ljust(768, b"\0")
                transparent = image.info.get("transparency")
        durations = [300] * (len(frames) - 1) + [1300]  # the demo's frame_ms and end pause
        animations.append(DemoAnimation(folder.name, frames, palette, transparent, durations))
    return animations


@dataclass
class Timing:
    wall: float  # median seconds
    cpu: float  # median CPU seconds of the process, every thread (x264's, libwebp's) included

    def versus(self, other: Timing) -> str:
        return (
            f"CPU {self.cpu:.2f} s vs {other.cpu:.2f} s: {self.cpu / other.cpu:.2f}×; "
            f"wall {self.wall:.2f} s vs {other.wall:.2f} s: {self.wall / other.wall:.2f}×"
        )


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """Median wall and CPU seconds of each contender, running each once per round.

    CPU time is the steadier measure on a shared machine: other processes stretch the wall
    time of whatever runs while they do.
    """
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: Timing(statistics.median(wall[name]), statistics.median(cpu[name])) for name in contenders}


# --------------------------------------------------------------------------------------------
# (a) whole builds


def cold_builds(folder: Path, rounds: int) -> None:
    configs = {"gif": demo_config(folder, "gif"), "all": demo_config(folder, "gif, webp, mp4")}
    runs = iter(range(10**6))

    def cold(config: Path) -> Callable[[], object]:
        return lambda: build(
            config, folder / f"out-{next(runs)}", options=BuildOptions(jobs=1, use_cache=False, cache_dir=folder / "cache")
        )

    timings = interleaved({name: cold(config) for name, config in configs.items()}, rounds)
    print("(a) cold demo build (whole builds, cache off, jobs=1), 3 formats vs GIF only")
    print(f"    {timings['all'].versus(timings['gif'])}")


# --------------------------------------------------------------------------------------------
# (b) WebP


def old_webp(path: Path, animation: DemoAnimation) -> None:
    """The WebP as it was written before: every frame whole, at method 3, quality 25."""
    height, width = animation.frames[0].shape
    chunks = [webp._webp_header_chunks(width, height, animation.transparent is not None, 0)]
    for frame, duration in zip(animation.frames, animation.durations, strict=True):
        lookup = RgbaLookup(animation.palette, animation.transparent)
        bitstream = webp._encode_webp_frame(frame, lookup, animation.transparent, True, *OLD_WEBP[::-1])
        chunks.append(webp._anmf_chunk(CanvasRect(0, 0, width, height), duration, bitstream))
    body = b"WEBP" + b"".join(chunks)
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)


def decoded_webp(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for number in range(getattr(image, "n_frames", 1)):
            image.seek(number)
            frames.append(np.array(image.convert("RGBA")))
        return frames


def webp_settings(animations: list[DemoAnimation], folder: Path, rounds: int) -> None:
    def old() -> None:
        for a in animations:
            old_webp(folder / f"old-{a.name}.webp", a)

    def new() -> None:
        for a in animations:
            webp.write_webp(folder / f"new-{a.name}.webp", a.frames, a.durations, a.palette, a.transparent)

    medians = interleaved({"old": old, "new": new}, rounds)
    same = all(
        len(x) == len(y) and all(np.array_equal(p[p[..., 3] > 0], q[q[..., 3] > 0]) and np.array_equal(p[..., 3], q[..., 3])
                                 for p, q in zip(x, y, strict=True))
        for a in animations
        for x, y in [(decoded_webp(folder / f"old-{a.name}.webp"), decoded_webp(folder / f"new-{a.name}.webp"))]
    )
    old_size = sum((folder / f"old-{a.name}.webp").stat().st_size for a in animations)
    new_size = sum((folder / f"new-{a.name}.webp").stat().st_size for a in animations)
    new_settings = (webp.LOSSLESS_METHOD, webp.LOSSLESS_QUALITY)
    print(f"(b) WebP: whole frames at method/quality {OLD_WEBP} vs changed rectangles at {new_settings}")
    print(f"    {medians['new'].versus(medians['old'])}")
    print(f"    size {new_size / old_size:.3f}×; same decoded frames (visible RGBA): {same}")


# --------------------------------------------------------------------------------------------
# (c) MP4


def old_mp4(path: Path, animation: DemoAnimation) -> int:
    """The MP4 as it was written before: returns the number of frames encoded."""
    import av
    from av import VideoFrame

    tick = max(math.gcd(*animation.durations), 20)
    repeats = [max(1, round(duration / tick)) for duration in animation.durations]
    lookup = np.frombuffer(animation.palette, dtype=np.uint8).reshape(256, 3).copy()
    if animation.transparent is not None:
        lookup[animation.transparent] = 255
    encoded = 0
    with av.open(str(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as container:
        fps = Fraction(1000, tick)
        stream = None
        for frame, count in zip(animation.frames, repeats, strict=True):
            height, width = frame.shape
            rgb = np.full((height + height % 2, width + width % 2, 3), 255, dtype=np.uint8)
            rgb[:height, :width] = lookup[frame]
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.time_base = 1 / fps
                context = stream.codec_context
                context.gop_size = max(1, round(2 * fps))
                context.colorspace = context.color_primaries = context.color_trc = 1
                context.color_range = 1
                stream.options = {"crf": "20", "preset": "medium"}
            video_frame = VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace="ITU709")
            for _ in range(count):
                video_frame.pts = encoded
                container.mux(stream.encode(video_frame))
                encoded += 1
        assert stream is not None
        container.mux(stream.encode(None))
    return encoded


def mp4_ways(animations: list[DemoAnimation], folder: Path, rounds: int) -> None:
    def old() -> int:
        return sum(old_mp4(folder / f"old-{a.name}.mp4", a) for a in animations)

    def new() -> None:
        for a in animations:
            write_mp4(folder / f"new-{a.name}.mp4", a.frames, a.durations, a.palette, a.transparent)

    medians = interleaved({"old": old, "new": new}, rounds)
    old_count, new_count = old(), sum(len(a.frames) for a in animations)
    old_size = sum((folder / f"old-{a.name}.mp4").stat().st_size for a in animations)
    new_size = sum((folder / f"new-{a.name}.mp4").stat().st_size for a in animations)
    print("(c) MP4, old way (RGB → swscale, 100 ms ticks, x264 threads and B-frames) vs write_mp4")
    print(f"    {medians['new'].versus(medians['old'])}")
    print(f"    frames encoded {new_count} vs {old_count}; size {new_size / old_size:.3f}×")


# --------------------------------------------------------------------------------------------
# (d) GIF


def ours_gif(animations: list[DemoAnimation], folder: Path) -> int:
    size = 0
    for a in animations:
        path = folder / f"ours-{a.name}.gif"
        height, width = a.frames[0].shape
        with GifWriter(path, width, height, a.palette, a.transparent) as gif:
            for frame, duration in zip(a.frames, a.durations, strict=True):
                gif.add_frame(frame, duration)
        size += path.stat().st_size
    return size


def pillow_gif(animations: list[DemoAnimation]) -> int:
    size = 0
    for a in animations:
        images = []
        for frame in a.frames:
            height, width = frame.shape
            image = Image.frombuffer("P", (width, height), frame, "raw", "P", 0, 1)
            image.putpalette(a.palette)
            images.append(image)
        buffer = io.BytesIO()
        images[0].save(
            buffer, format="GIF", save_all=True, append_images=images[1:], optimize=False,
            duration=a.durations, loop=0, transparency=a.transparent, disposal=1,
        )
        size += len(buffer.getvalue())
    return size


def gif_writers(animations: list[DemoAnimation], folder: Path, rounds: int) -> None:
    medians = interleaved({"ours": lambda: ours_gif(animations, folder), "pillow": lambda: pillow_gif(animations)}, rounds * 3)
    ours_size, pillow_size = ours_gif(animations, folder), pillow_gif(animations)
    print("(d) GIF: our writer vs Pillow saving the same P frames (save_all, optimize=False)")
    print(f"    {medians['ours'].versus(medians['pillow'])}")
    print(f"    size {ours_size / pillow_size:.3f}×")


# --------------------------------------------------------------------------------------------
# (e) x264's settings


def mp4_psnr(path: Path, animation: DemoAnimation) -> tuple[float, int]:
    """(summed squared error, values) of the decoded planes against the planes x264 was given."""
    import av

    table = YuvTable(animation.palette, animation.transparent, (255, 255, 255))
    error, count = 0.0, 0
    with av.open(str(path)) as container:
        for frame, decoded in zip(animation.frames, container.decode(video=0), strict=True):
            given = table.yuv420p(frame).astype(np.float64)
            error += float(((decoded.to_ndarray(format="yuv420p") - given) ** 2).sum())
            count += given.size
    return error, count


def x264_settings(animations: list[DemoAnimation], folder: Path, rounds: int) -> None:
    ours = mp4._X264_PARAMS

    def with_params(name: str, params: str) -> Callable[[], None]:
        def run() -> None:
            mp4._X264_PARAMS = params
            try:
                for a in animations:
                    write_mp4(folder / f"{name}-{a.name}.mp4", a.frames, a.durations, a.palette, a.transparent)
            finally:
                mp4._X264_PARAMS = ours

        return run

    medians = interleaved({"preset": with_params("preset", ""), "ours": with_params("ours", ours)}, rounds)
    size, psnr = {}, {}
    for name in ("preset", "ours"):
        size[name] = sum((folder / f"{name}-{a.name}.mp4").stat().st_size for a in animations)
        errors = [mp4_psnr(folder / f"{name}-{a.name}.mp4", a) for a in animations]
        psnr[name] = 10 * math.log10(255**2 * sum(n for _, n in errors) / sum(e for e, _ in errors))
    print(f"(e) MP4: x264 preset veryfast alone vs with {ours!r}")
    print(f"    {medians['ours'].versus(medians['preset'])}")
    print(f"    size {size['ours'] / size['preset']:.3f}×; PSNR of the planes {psnr['ours']:.2f} vs {psnr['preset']:.2f} dB")


# --------------------------------------------------------------------------------------------
# (f) the codecs' share


class CodecClock:
    """CPU seconds spent inside the codec calls while it is installed (one thread: libwebp and
    x264 run on the calling thread here, so the process's CPU clock is theirs)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return run


class TimedStream:
    """A PyAV stream whose ``encode`` calls (x264) are timed; everything else is the stream's."""

    def __init__(self, stream: Any, clock: CodecClock) -> None:
        self._stream = stream
        self.encode = clock.timed(stream.encode)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def codec_clocks() -> Iterator[tuple[CodecClock, CodecClock]]:
    """(libwebp, x264) clocks, installed around Pillow's WebP call and PyAV's stream while in use."""
    from PIL import _webp

    libwebp, x264 = CodecClock(), CodecClock()
    encode_webp, add_stream = _webp.WebPEncode, mp4._add_h264_stream

    def timed_stream(container: Any, width: int, height: int, timestamps: list[tuple[int, int]], crf: int) -> Any:
        return TimedStream(add_stream(container, width, height, timestamps, crf), x264)

    _webp.WebPEncode = libwebp.timed(encode_webp)
    mp4._add_h264_stream = timed_stream
    try:
        yield libwebp, x264
    finally:
        _webp.WebPEncode, mp4._add_h264_stream = encode_webp, add_stream


def codec_shares(animations: list[DemoAnimation], folder: Path, rounds: int) -> None:
    totals: dict[str, list[float]] = {"webp": [], "mp4": []}
    codecs: dict[str, list[float]] = {"webp": [], "mp4": []}
    with codec_clocks() as (libwebp, x264):
        for _ in range(rounds):
            for name, clock in (("webp", libwebp), ("mp4", x264)):
                clock.seconds = 0.0
                started = time.process_time()
                for a in animations:
                    path = folder / f"share-{a.name}.{name}"
                    if name == "webp":
                        webp.write_webp(path, a.frames, a.durations, a.palette, a.transparent)
                    else:
                        write_mp4(path, a.frames, a.durations, a.palette, a.transparent)
                totals[name].append(time.process_time() - started)
                codecs[name].append(clock.seconds)
    print("(f) CPU of the writers on the demo's frames: the codec's call vs our code around it")
    for name, codec in (("webp", "libwebp"), ("mp4", "x264")):
        total = statistics.median(totals[name])
        inside = statistics.median(codecs[name])
        ours = statistics.median(t - c for t, c in zip(totals[name], codecs[name], strict=True))
        print(f"    {name}: {total:.3f} s = {codec} {inside:.3f} s ({inside / total:.0%}) + ours {ours:.3f} s")
    both = statistics.median(a + b for a, b in zip(totals["webp"], totals["mp4"], strict=True))
    glue = statistics.median(
        w + m - c - d for w, m, c, d in zip(totals["webp"], totals["mp4"], codecs["webp"], codecs["mp4"], strict=True)
    )
    print(f"    both: {both:.3f} s, of which ours {glue:.3f} s")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    parts = sys.argv[2] if len(sys.argv) > 2 else "abcdef"
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as temporary:
        folder = Path(temporary)
        if "a" in parts:
            cold_builds(folder, rounds)
        else:
            build(demo_config(folder, "gif"), folder / "out-0", options=BuildOptions(jobs=1, use_cache=False, cache_dir=folder / "cache"))
        animations = load_demo(folder / "out-0")  # the first GIF-only build
        if "b" in parts:
            webp_settings(animations, folder, rounds)
        if "c" in parts:
            mp4_ways(animations, folder, rounds)
        if "d" in parts:
            gif_writers(animations, folder, rounds)
        if "e" in parts:
            x264_settings(animations, folder, rounds)
        if "f" in parts:
            codec_shares(animations, folder, rounds)
        frames = sum(len(a.frames) for a in animations)
        print(f"{len(animations)} animations, {frames} frames; medians of {rounds} interleaved rounds ((d): {rounds * 3})")


if __name__ == "__main__":
    main()
