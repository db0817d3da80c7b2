"""An S3-compatible server on 127.0.0.1: moto in server mode, with a public test bucket.

Files are uploaded with boto3 using explicit dummy credentials (nothing is read from or written to
the process environment); readers then use unsigned access (``AWS_NO_SIGN_REQUEST``) with an
endpoint override, as for a public bucket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import free_port, unavailable, wait_until


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str

    @property
    def host_port(self) -> str:
        return self.endpoint.removeprefix("http://")

    def href(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def gdal_env(self) -> dict[str, str]:
        """The environment a separate process (e.g. TiTiler) needs to read this bucket unsigned."""
        return {
            "AWS_S3_ENDPOINT": self.host_port,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_NO_SIGN_REQUEST": "YES",
            "AWS_REGION": "us-east-1",
        }

    def client(self):  # noqa: ANN201 - boto3 client type is dynamic
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )

    def upload(self, path: Path, key: str) -> str:
        self.client().upload_file(str(path), self.bucket, key)
        return self.href(key)


@contextmanager
def s3_server(bucket: str = "eo-test-data") -> Iterator[S3Server]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:  # pragma: no cover - depends on the test environment
        unavailable(f"moto[server] is not installed ({error})")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        state = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket=bucket)
        wait_until(lambda: _answers(state.endpoint), 20, "moto S3 server")
        client = state.client()
        client.create_bucket(Bucket=bucket)
        # A public bucket, like the open-data buckets read with AWS_NO_SIGN_REQUEST.
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                           "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
        }))
        yield state
    finally:
        server.stop()


def _answers(endpoint: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(endpoint, timeout=2) as response:  # noqa: S310 - loopback only
        return response.status < 500
