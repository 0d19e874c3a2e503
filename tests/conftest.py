"""Shared by every test directory: the harness modules (tests/harness) are importable, and
`workdir` is a temporary directory for one test's servers."""
import os
import pathlib
import sys
import tempfile

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "harness"))


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)  # servers run as other users (postgres) must reach their directories
        yield pathlib.Path(d)
