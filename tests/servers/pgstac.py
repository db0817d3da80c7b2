"""A real STAC API on loopback: PostgreSQL + PostGIS + pgstac behind stac-fastapi-pgstac.

This is the stack NASA VEDA runs. ``PgStacServer.start`` makes a throw-away cluster in a temporary
folder (owned by the ``postgres`` user when we are root, since initdb refuses to run as root),
migrates pgstac, loads the given collections and items, and serves them with uvicorn on an
ephemeral port of 127.0.0.1. Everything is removed by ``stop``.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import free_port, wait_until

APP_ROLE = "stacapp"
APP_PASSWORD = "stacapp-test-only"
DATABASE = "pgstac"


class PgStacUnavailable(RuntimeError):
    """PostgreSQL, PostGIS or the Python packages are missing."""


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian layout)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise PgStacUnavailable("PostgreSQL is not installed (Debian: postgresql, postgresql-15-postgis-3)")
        return Path(found).parent
    return Path(candidates[-1]).parent


@dataclass
class PgStacServer:
    root: Path
    pg_port: int
    api_port: int
    _as_postgres: list[str] = field(default_factory=list)
    _api: subprocess.Popen[bytes] | None = None
    _bin: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def superuser_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DATABASE}"

    @classmethod
    def start(cls, collections: Iterable[dict[str, Any]], items: Iterable[dict[str, Any]]) -> PgStacServer:
        try:
            import pypgstac  # noqa: F401
            import stac_fastapi.pgstac  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as error:
            raise PgStacUnavailable(f"missing Python package: {error.name} (install the `test` extra)") from None
        bin_dir = postgres_bin()
        root = Path(tempfile.mkdtemp(prefix="pgstac-test-"))
        server = cls(root=root, pg_port=free_port(), api_port=free_port(), _bin=bin_dir)
        try:
            server._init_cluster()
            server._prepare_database(list(collections), list(items))
            server._serve()
        except BaseException:
            server.stop()
            raise
        return server

    # --- PostgreSQL ------------------------------------------------------------------------

    def _run_pg(self, *args: str) -> None:
        assert self._bin is not None
        command = [*self._as_postgres, str(self._bin / args[0]), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {result.stderr.strip() or result.stdout.strip()}")

    def _init_cluster(self) -> None:
        data = self.root / "data"
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PgStacUnavailable("no `postgres` system user (install Debian's postgresql)") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run_pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.pg_port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run_pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "postgres.log"), "-w", "-t", "30", "start")

    def _prepare_database(self, collections: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
        import psycopg
        from pypgstac.db import PgstacDB
        from pypgstac.load import Loader, Methods
        from pypgstac.migrate import Migrate

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}'")
        with psycopg.connect(self.superuser_dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        with PgstacDB(dsn=self.superuser_dsn) as db:
            Migrate(db).run_migration()
        with psycopg.connect(self.superuser_dsn, autocommit=True) as conn:
            conn.execute(f"GRANT pgstac_admin, pgstac_ingest, pgstac_read TO {APP_ROLE}")
        collections_file = self.root / "collections.ndjson"
        items_file = self.root / "items.ndjson"
        collections_file.write_text("".join(json.dumps(c) + "\n" for c in collections), encoding="utf-8")
        items_file.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
        with PgstacDB(dsn=self.superuser_dsn) as db:
            loader = Loader(db)
            loader.load_collections(str(collections_file), Methods.insert)
            loader.load_items(str(items_file), Methods.insert)

    # --- the API ---------------------------------------------------------------------------

    def _serve(self) -> None:
        env = {
            **os.environ,
            "PGUSER": APP_ROLE, "PGPASSWORD": APP_PASSWORD, "PGHOST": "127.0.0.1",
            "PGPORT": str(self.pg_port), "PGDATABASE": DATABASE,
            "POSTGRES_USER": APP_ROLE, "POSTGRES_PASS": APP_PASSWORD, "POSTGRES_HOST_READER": "127.0.0.1",
            "POSTGRES_HOST_WRITER": "127.0.0.1", "POSTGRES_PORT": str(self.pg_port), "POSTGRES_DBNAME": DATABASE,
            "STAC_FASTAPI_TITLE": "test STAC API", "STAC_FASTAPI_DESCRIPTION": "pgstac on loopback",
            "STAC_FASTAPI_LANDING_ID": "test-api", "STAC_FASTAPI_VERSION": "1.0.0",
        }
        log = open(self.root / "api.log", "wb")  # noqa: SIM115 - closed with the process
        self._api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.api_port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
        )

        def ready() -> bool:
            if self._api is not None and self._api.poll() is not None:
                raise RuntimeError(f"stac-fastapi-pgstac exited: {self.log_tail()}")
            with urllib.request.urlopen(f"{self.url}/_mgmt/ping", timeout=2) as response:
                return response.status == 200

        try:
            wait_until(ready, 60, "stac-fastapi-pgstac")
        except TimeoutError as error:
            raise RuntimeError(f"{error}: {self.log_tail()}") from None

    def log_tail(self) -> str:
        path = self.root / "api.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._api is not None and self._api.poll() is None:
            self._api.terminate()
            try:
                self._api.wait(10)
            except subprocess.TimeoutExpired:
                self._api.kill()
                self._api.wait(5)
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run_pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "20", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
