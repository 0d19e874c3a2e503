"""Live Greenplum-engine tests: PostgreSQL 15 servers as coordinator and segments on 127.0.0.1."""
import tempfile

import pytest

from pg_harness import Postgres


@pytest.fixture
def workdir():
    import os
    import pathlib
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)  # the postgres user must reach its directories below
        yield pathlib.Path(d)


@pytest.fixture
def pg_factory(workdir):
    started = []

    def make(**kw):
        p = Postgres(workdir, **kw)
        started.append(p)
        return p
    yield make
    for p in started:
        p.stop()
