"""Makes the shared harness modules (tests/harness) importable by every test directory."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent / "harness"))
