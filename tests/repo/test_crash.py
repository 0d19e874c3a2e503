"""Crash safety of the repository: kill -9 `mdb-backup repo` at random moments of backup, delete
and GC, 50 times per storage driver; after each kill, verify must find every committed backup
intact and no half-visible one; committed backups restore byte-identical; the next GC reclaims
every leftover."""
import os
import pathlib
import random
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

BUILD = pathlib.Path(os.environ.get("MDB_BUILD", pathlib.Path(__file__).parents[2] / "build"))
CLI = str(BUILD / "src/cli/mdb-backup")
KILLS = int(os.environ.get("MDB_CRASH_KILLS", "50"))


def drivers():
    out = ["posix"]
    if os.environ.get("MDB_S3_ENDPOINT"):
        out.append("s3")
    elif os.environ.get("MDB_S3_REQUIRED") == "1":
        raise RuntimeError("MDB_S3_REQUIRED=1 but MDB_S3_ENDPOINT is not set")
    return out


def make_sources(d, rng):
    """Files that compress and partly dedup against each other, as database files do."""
    base = bytearray(rng.randbytes(3 << 20) + b"row data " * (400000))
    files = []
    for i in range(4):
        data = bytearray(base)
        for _ in range(200):  # scattered edits: each version shares most chunks with the others
            pos = rng.randrange(len(data) - 100)
            data[pos:pos + 50] = rng.randbytes(50)
        p = d / ("src%d" % i)
        p.write_bytes(bytes(data))
        files.append(p)
    return files


class Repo:
    def __init__(self, url, key):
        self.base = [CLI, "repo", "--repo", url, "--key-file", str(key)]

    def run(self, *args, check=True):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s%s" % (args, r.returncode, r.stdout, r.stderr))
        return r

    def spawn(self, *args):
        return subprocess.Popen(self.base + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def backups(self):
        return [line.split()[0] for line in self.run("list").stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("driver", drivers())
def test_kill_at_random_moments(driver, tmp_path):
    rng = random.Random(int(os.environ.get("MDB_CRASH_SEED", "1234")))
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    if driver == "posix":
        url = str(tmp_path / "repo")
    else:
        url = "s3://%s/crash-%s?endpoint=%s&region=us-east-1&path_style=true" % (
            os.environ.get("MDB_S3_BUCKET", "mdb-test"), uuid.uuid4().hex[:8],
            os.environ["MDB_S3_ENDPOINT"])
    repo = Repo(url, key)
    # Small chunks and packs: many objects, so kills land between them.
    repo.run("init", "--chunk-avg-kib", "64")
    sources = make_sources(tmp_path, rng)
    expected = {}  # backup id -> source files, for every backup that may be committed
    killed = {"backup": 0, "delete+gc": 0, "gc": 0}
    for i in range(KILLS):
        op = rng.choice(["backup", "backup", "backup", "delete+gc", "gc"])
        if op == "backup":
            bid = "b%03d" % i
            # Each backup brings new data (so it takes long enough to be interrupted) and old.
            fresh = tmp_path / ("fresh%03d" % i)
            fresh.write_bytes(rng.randbytes(12 << 20))
            files = rng.sample(sources, rng.randint(1, 2)) + [fresh]
            expected[bid] = files
            proc = repo.spawn("backup", "--id", bid, *map(str, files))
        elif op == "delete+gc":
            live = repo.backups()
            if live:
                repo.run("delete", rng.choice(live))
            proc = repo.spawn("gc", "--incomplete-older-than", "0")
        else:
            proc = repo.spawn("gc", "--incomplete-older-than", "0")
        time.sleep(rng.uniform(0.0, 0.08))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed[op] += 1
        proc.wait()
        # Whatever the moment of the kill: every visible backup is whole and intact.
        verify = repo.run("verify", check=False)
        assert verify.returncode == 0, "after %s #%d: %s%s" % (op, i, verify.stdout, verify.stderr)
        live = repo.backups()
        assert set(live) <= set(expected), live
        if live:
            check_restore(repo, rng.choice(live), expected, tmp_path)
    assert sum(killed.values()) >= KILLS // 3, killed  # the kills really interrupted work
    for bid in repo.backups():
        check_restore(repo, bid, expected, tmp_path)
    # Leftovers of killed writers are reclaimed: once every backup is gone, nothing stays.
    repo.run("gc", "--incomplete-older-than", "0")
    for bid in repo.backups():
        repo.run("delete", bid)
    out = repo.run("gc", "--incomplete-older-than", "0").stdout
    stats = repo.run("stats").stdout
    assert " 0 backups" in stats and "0 packs" in stats, (out, stats)
    if driver == "posix":
        left = [p for p in (tmp_path / "repo").rglob("*") if p.is_file()]
        names = sorted(str(p.relative_to(tmp_path / "repo")) for p in left)
        assert all(n == "config" or n.startswith("index/") for n in names), names
    print("kills:", killed)


def check_restore(repo, bid, expected, tmp_path):
    out = tmp_path / ("restore-" + bid)
    out.mkdir(exist_ok=True)
    repo.run("restore", bid, "--to", str(out))
    for i, src in enumerate(expected[bid]):
        assert (out / str(i)).read_bytes() == src.read_bytes(), "backup %s stream %d differs" % (bid, i)
    for f in out.iterdir():
        f.unlink()
