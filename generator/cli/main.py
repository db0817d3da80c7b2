"""Command line: ``python -m generator build [--config PATH] [--output DIR] [--only ID ...]``
and ``python -m generator serve [--config PATH] [--output DIR] [--port N]``.

Parses arguments, runs the build and maps our exceptions to exit codes in one table. Heavy
imports (rasterio, rio-tiler…) happen only once a command runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from generator import __version__
from generator.core.cpus import usable_cpus
from generator.core.errors import ConfigError, GeneratorError
from generator.core.quirks import silence_spurious_warnings
from generator.core.redaction import RedactingFilter, redact_text
from generator.render.rasterio_import import rasterio_without_boto3

EXIT_OK = 0
EXIT_ANIMATIONS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Exceptions that end a command, and the exit code each gives (first match wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_USAGE),
    (GeneratorError, EXIT_ANIMATIONS_FAILED),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Turn STAC time series of COGs into animated maps and a static web gallery.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build = commands.add_parser("build", help="build the gallery into the output folder")
    build.add_argument("--config", type=Path, default=Path("site_config.yml"), help="site config (default: ./site_config.yml)")
    build.add_argument("--output", type=Path, default=None, help="output folder (default: output/ beside the config)")
    build.add_argument("--only", nargs="+", metavar="ANIMATION_ID", help="build only these animations")
    verbosity = build.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="more detail")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="errors only")
    build.add_argument("--debug", action="store_true", help="show tracebacks")
    build.add_argument(
        "--jobs", "-j", type=int, default=usable_cpus(), metavar="N",
        help="frames rendered in parallel (default: the CPUs this process may use)",
    )
    build.add_argument("--strict", action="store_true", help="any failed animation fails the build; output left as it was")
    build.add_argument(
        "--cache-dir", default=None, metavar="DIR_OR_URL",
        help="frame cache folder or URL, e.g. s3://bucket/prefix (default: .cache/ beside the config)",
    )
    build.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="build on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786 (needs the [dask] extra)",
    )
    build.add_argument("--no-cache", action="store_true", help="neither read nor write the frame cache")
    build.add_argument("--dry-run", action="store_true", help="only list the plan (same as the `list` command)")
    validate = commands.add_parser("validate", help="check the config and its sources without rendering")
    validate.add_argument("--offline", action="store_true", help="schema and local files only; contact nothing")
    listing = commands.add_parser("list", help="the plan: animations with their item and frame counts")
    listing.add_argument("--only", nargs="+", metavar="ANIMATION_ID", help="list only these animations")
    clean = commands.add_parser("clean", help="remove the frame cache and the output folder")
    clean.add_argument("--output", type=Path, default=None, help="output folder (default: output/ beside the config)")
    clean.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: .cache/ beside the config)")
    for command in (validate, listing, clean):
        command.add_argument("--config", type=Path, default=Path("site_config.yml"), help="site config (default: ./site_config.yml)")
        command.set_defaults(verbose=False, quiet=False, debug=False)
        command.add_argument("--debug", action="store_true", help="show tracebacks")
    serve = commands.add_parser("serve", help="preview the built gallery on http://127.0.0.1 only")
    serve.add_argument("--config", type=Path, default=Path("site_config.yml"), help="site config whose output/ to serve (default: ./site_config.yml)")
    serve.add_argument("--output", type=Path, default=None, help="the gallery folder to serve (default: output/ beside the config)")
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000; 0 picks a free one)")
    serve.set_defaults(verbose=False, quiet=False, debug=False)
    return parser


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each message, not at set-up."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if args.verbose or args.debug:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.ERROR
    handler = _CurrentStderrHandler()
    handler.addFilter(RedactingFilter())  # no URL secret in any line, whoever logged it
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if level == logging.DEBUG else "%(message)s"))
    root = logging.getLogger("generator")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _print_report(lines: list[str], problems: list[str]) -> int:
    for line in lines:
        print(redact_text(line))
    for problem in problems:
        print(f"error: {redact_text(problem)}", file=sys.stderr)
    return EXIT_ANIMATIONS_FAILED if problems else EXIT_OK


def _run_check(args: argparse.Namespace) -> int:
    from generator.cli import commands  # deferred: pulls in rasterio and friends

    if args.command == "validate":
        report = commands.validate(args.config, args.offline)
    elif args.command == "clean":
        report = commands.clean(args.config, args.output, args.cache_dir)
    else:
        report = commands.list_plan(args.config, args.only)
    code = _print_report(report.lines, report.problems)
    if report.config_problems:  # printed like any config error, exit 2
        raise ConfigError(report.config_problems)
    return code


def _run_build(args: argparse.Namespace) -> int:
    if args.jobs > 1 and args.scheduler is None and not args.dry_run:
        from generator.engine.executors import start_fork_server

        start_fork_server(video=_may_make_video(args.config))  # the workers' imports overlap this process's own
    from generator.engine.build import BuildOptions, build  # deferred: the engine's own modules

    if args.dry_run:
        args.command = "list"
        return _run_check(args)

    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: give at least 1")
    if args.scheduler is not None and not re.match(r"^(tcp|tls|ws|wss|ucx)://\S+$", args.scheduler):
        raise ConfigError(f"--scheduler {args.scheduler}: give a Dask scheduler address such as tcp://10.0.0.5:8786")
    cache_dir = args.cache_dir if args.cache_dir is None or "://" in args.cache_dir else Path(args.cache_dir)
    options = BuildOptions(
        jobs=args.jobs, cache_dir=cache_dir, use_cache=not args.no_cache, strict=args.strict, scheduler=args.scheduler
    )
    result = build(args.config, args.output, args.only, options=options)
    log = logging.getLogger("generator")
    log.info("%s", result.summary.line())
    log.info("gallery: %s", result.output_dir / "index.html")
    for record in result.failed:
        log.error("failed: %s: %s", record.id, record.error)
    from generator.cli import ci  # deferred like the build: the records' model loads numpy

    for line in ci.report_to_github(result.records, result.summary.line(), str(args.config)):
        print(line, flush=True)
    if result.config_failures:  # the others are built; what failed needs the config fixed
        log.error("the config needs fixing for: %s (exit code %d)", ", ".join(result.config_failures), EXIT_USAGE)
        return EXIT_USAGE
    return EXIT_ANIMATIONS_FAILED if result.failed else EXIT_OK


def _may_make_video(config: Path) -> bool:
    """Whether the build may make an MP4, told from the config's text before it is read: the
    fork server then loads PyAV ahead (``engine.preload_video``). Only a hint, and a cautious
    one (any mention of mp4, a comment's too); a worker that encodes an MP4 without it imports
    PyAV itself."""
    try:
        return b"mp4" in config.read_bytes().lower()
    except OSError:  # the build says what is wrong with the path
        return True


def _run_serve(args: argparse.Namespace) -> int:
    from generator.site.serve import serve_forever

    output = args.output
    if output is None:
        from generator.plan.site import site_folders  # only needed to find output/ beside the config

        output = site_folders(args.config).output
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: choose a port between 0 and 65535")
    serve_forever(output, args.port)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args)
    try:
        if args.command == "serve":
            return _run_serve(args)
        if args.command in ("validate", "list", "clean"):
            return _run_check(args)
        return _run_build(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except GeneratorError as error:
        if args.debug:
            raise
        for line in redact_text(str(error)).splitlines():
            print(f"error: {line}", file=sys.stderr)
        if isinstance(error, ConfigError):
            from generator.cli import ci

            for line in ci.config_error_annotations(error.problems, str(getattr(args, "config", ""))):
                print(line, flush=True)
        return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


# The cyclic garbage collector, tuned for one command in a short-lived process. Nearly all that a
# build allocates is either numpy buffers (not tracked) or the objects of the ~1000 modules it
# imports, which live until the end; a full collection walks all of them again (three times in
# a one-animation build, a quarter of a second for nothing). Young objects are still collected
# as often as by default; a full collection waits for 100 young-generation runs instead of 10.
COLLECTOR_THRESHOLDS = (700, 10, 100)


#: Threads for the BLAS library numpy is built with, unless the environment says otherwise. The
#: build's parallelism is its processes (``--jobs``); numpy's few matrix products are of 2×2
#: matrices. OpenBLAS would start a thread per core in every process that imports numpy (≈ 70 ms
#: of CPU each: the build's, the fork server's) and keep them spinning after each product, on
#: the cores the workers need.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(argv: list[str] | None = None) -> int:
    """``main`` as the whole process's command (``python -m generator``, ``eo-timelapse``).

    Not for calling from a longer-lived process: it changes the collector's thresholds, gives
    BLAS one thread (:data:`BLAS_THREADS`, before numpy is imported; the workers inherit it),
    has rasterio load without boto3 (``render.rasterio_import``: ≈ 0.15 s of a ``--jobs 1``
    build where boto3 is installed), silences third-party warnings that say nothing about the
    data (``core.quirks``) and, at the end, freezes every object so that the interpreter's exit
    does not walk them all once more only to find no garbage (≈ 0.3 s of CPU after a build).
    """
    for name, value in BLAS_THREADS.items():
        os.environ.setdefault(name, value)
    rasterio_without_boto3()
    silence_spurious_warnings()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        return main(argv)
    finally:
        gc.freeze()


if __name__ == "__main__":
    sys.exit(run())
