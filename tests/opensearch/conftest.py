"""Live OpenSearch tests: real OpenSearch nodes on 127.0.0.1, a real mdb-backupd with a
repository, and the official Python SDK driving backups, restores and deletions."""
import pathlib
import tempfile

import pytest

from opensearch_harness import OpenSearch


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield pathlib.Path(d)


@pytest.fixture
def opensearch_factory(workdir):
    started = []

    def make():
        n = OpenSearch(workdir)
        started.append(n)
        return n
    yield make
    for n in started:
        n.stop()
