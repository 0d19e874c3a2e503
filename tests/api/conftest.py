"""Live API tests: a real mdb-backupd on 127.0.0.1 over a catalog holding backups of all four
engines, driven through the official yandexcloud SDK and plain HTTP."""
import tempfile

import pytest

from mdb_harness import RECORDS, Server


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d)
        s.import_records(RECORDS)
        s.start()
        yield s
        s.stop()
