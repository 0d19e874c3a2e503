"""Live API tests: a real mdb-backupd on 127.0.0.1 over a catalog holding backups of all four
engines, driven through the official yandexcloud SDK and plain HTTP."""
import pytest

from mdb_harness import running_server


@pytest.fixture(scope="session")
def server():
    with running_server() as s:
        yield s
