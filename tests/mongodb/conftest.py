"""Live MongoDB tests: FerretDB servers (MongoDB wire protocol) on 127.0.0.1, a real mdb-backupd
with a repository, and the official Python SDK driving backups and restores."""
import pathlib
import tempfile

import pytest

from mongo_harness import Mongo


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield pathlib.Path(d)


@pytest.fixture
def mongo_factory(workdir):
    started = []

    def make(replset=None):
        m = Mongo(workdir, replset)
        started.append(m)
        return m
    yield make
    for m in started:
        m.stop()
