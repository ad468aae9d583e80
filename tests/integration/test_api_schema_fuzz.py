"""The API fuzzed from its own OpenAPI schema with schemathesis, against a real daemon, for
about a minute (a seeded run; bench/api_fuzz.py runs 10,000+ requests): no answer is a 5xx,
every status code, header and body is one the schema documents, what the schema forbids is
refused and what it allows is accepted (tests/integration/schemathesis.toml says where a rule
cannot be stated, tests/integration/schema_fuzz.py how such values are made)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.asterisk import Asterisk
from tests.integration.api_daemon import REPO, TOKENS, Daemon, serve_one

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HERE = Path(__file__).resolve().parent


def schemathesis_run(
    url: str, *args: str, cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """`st run` against the daemon at `url` as admin, with the project's hooks and config, in
    `cwd` (where schemathesis keeps its cache)."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "--no-color",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKENS['admin']}",
            "--checks",
            "all",
            *args,
        ],
        cwd=cwd,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": str(HERE / "schema_fuzz.py"),
            "PYTHONPATH": str(REPO),
        },
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-schema-fuzz")


def test_the_api_keeps_to_its_schema(daemon: Daemon, tmp_path: Path) -> None:
    run = schemathesis_run(
        daemon.url,
        "--seed",
        "1",
        "--max-examples",
        "10",
        "--max-time",
        "60",
        "--phases",
        "examples,coverage,fuzzing",
        cwd=tmp_path,
        timeout_s=240,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    tested = re.search(r"Selected: (\d+)/(\d+)\n\s*Tested: (\d+)", run.stdout)
    assert tested is not None, run.stdout[-2000:]
    assert len(set(tested.groups())) == 1, tested.group(0)  # every operation was tested
    assert "Traceback" not in daemon.log()
