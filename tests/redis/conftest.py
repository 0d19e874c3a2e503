"""Live Redis tests: real redis-server processes on 127.0.0.1, a real mdb-backupd with a
repository, and the official Python SDK driving backups and restores."""
import pathlib
import tempfile

import pytest

from redis_harness import Redis


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield pathlib.Path(d)


@pytest.fixture
def redis_factory(workdir):
    started = []

    def make(*extra):
        r = Redis(workdir, *extra)
        started.append(r)
        return r
    yield make
    for r in started:
        r.stop()


