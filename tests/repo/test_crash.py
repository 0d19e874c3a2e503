"""Crash safety of the repository: kill -9 `mdb-backup repo` at random moments of backup, delete
and GC, 50 times per storage driver. Kill delays are drawn from the measured duration of the same
operation run to its end, so kills land before, around and after the commit on a slow or a fast
machine alike; some backups are left to finish. After every kill: verify checks every listed
backup with no problem reported; every backup that ever finished (or was seen listed) and was not
deleted is still listed and restores byte-identical; nothing unknown is listed. At the end the GC
reclaims every leftover: the repository's stats are exactly zero."""
import hashlib
import os
import pathlib
import random
import re
import signal
import subprocess
import time
import uuid

import pytest

BUILD = pathlib.Path(os.environ.get("MDB_BUILD", pathlib.Path(__file__).parents[2] / "build"))
CLI = str(BUILD / "src/cli/mdb-backup")
KILLS = int(os.environ.get("MDB_CRASH_KILLS", "50"))
STATS = re.compile(r": (\d+) backups, (\S+) MB logical, (\S+) MB stored in (\d+) packs, (\d+) chunks;")


def drivers():
    out = ["posix"]
    if os.environ.get("MDB_S3_ENDPOINT"):
        out.append("s3")
    elif os.environ.get("MDB_S3_REQUIRED") == "1":
        raise RuntimeError("MDB_S3_REQUIRED=1 but MDB_S3_ENDPOINT is not set")
    if os.environ.get("MDB_MINIO_ENDPOINT"):
        out.append("minio")
    elif os.environ.get("MDB_MINIO_REQUIRED") == "1":
        raise RuntimeError("MDB_MINIO_REQUIRED=1 but MDB_MINIO_ENDPOINT is not set")
    return out


def location(driver, tmp_path):
    """The repository URL of a driver, and the environment its credentials come from."""
    env = dict(os.environ)
    if driver == "posix":
        return str(tmp_path / "repo"), env
    if driver == "minio":
        endpoint, bucket = os.environ["MDB_MINIO_ENDPOINT"], os.environ["MDB_MINIO_BUCKET"]
        env["AWS_ACCESS_KEY_ID"] = os.environ["MDB_MINIO_ACCESS_KEY"]
        env["AWS_SECRET_ACCESS_KEY"] = os.environ["MDB_MINIO_SECRET_KEY"]
    else:
        endpoint, bucket = os.environ["MDB_S3_ENDPOINT"], os.environ.get("MDB_S3_BUCKET", "mdb-test")
    url = "s3://%s/crash-%s?endpoint=%s&region=us-east-1&path_style=true" % (
        bucket, uuid.uuid4().hex[:8], endpoint)
    return url, env


def digest(data):
    return hashlib.sha256(data).hexdigest()


def make_sources(d, rng):
    """Files that compress and partly dedup against each other, as database files do."""
    base = bytearray(rng.randbytes(1 << 20) + b"row data " * 120000)
    files = []
    for i in range(4):
        data = bytearray(base)
        for _ in range(60):  # scattered edits: each version shares most chunks with the others
            pos = rng.randrange(len(data) - 100)
            data[pos:pos + 50] = rng.randbytes(50)
        p = d / ("src%d" % i)
        p.write_bytes(bytes(data))
        files.append(p)
    return files


class Repo:
    def __init__(self, url, key, env=None):
        self.base = [CLI, "repo", "--repo", url, "--key-file", str(key)]
        self.env = env

    def run(self, *args, check=True):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=300,
                           env=self.env)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s%s" % (args, r.returncode, r.stdout, r.stderr))
        return r

    def spawn(self, *args):
        return subprocess.Popen(self.base + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env)

    def backups(self):
        return [line.split()[0] for line in self.run("list").stdout.splitlines() if line.strip()]

    def stats(self):
        out = self.run("stats").stdout
        m = STATS.search(out)
        assert m, out
        return {"backups": int(m[1]), "logical_mb": float(m[2]), "stored_mb": float(m[3]),
                "packs": int(m[4]), "chunks": int(m[5])}


class Killer:
    """Runs an operation and kills it after a delay drawn from how long the same kind of operation
    took when it was left to finish (0 to 1.2x, with a third of the draws near the end, where the
    commit is). The first run of each kind, and every `spare`-th, is left to finish."""

    def __init__(self, rng):
        self.rng = rng
        self.duration = {}
        self.runs = {}

    def run(self, repo, kind, *args, spare=4):
        n = self.runs.get(kind, 0)
        self.runs[kind] = n + 1
        start = time.monotonic()
        proc = repo.spawn(*args)
        if kind in self.duration and n % spare != 0:
            d = self.duration[kind]
            delay = self.rng.uniform(0.7 * d, 1.2 * d) if self.rng.random() < 1 / 3 else \
                self.rng.uniform(0.0, d)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return "killed", None
        out, err = proc.communicate(timeout=300)
        self.duration[kind] = time.monotonic() - start
        assert proc.returncode == 0, "%s %s failed (%d): %s%s" % (kind, args, proc.returncode, out, err)
        return "finished", out.decode()


@pytest.mark.parametrize("driver", drivers())
def test_kill_at_random_moments(driver, tmp_path):
    rng = random.Random(int(os.environ.get("MDB_CRASH_SEED", "1234")))
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)  # the service refuses key files others can read
    url, env = location(driver, tmp_path)
    repo = Repo(url, key, env)
    # Small chunks and packs: many objects, so kills land between them.
    repo.run("init", "--chunk-avg-kib", "64")
    sources = make_sources(tmp_path, rng)
    expected = {}   # backup id -> digests of its streams, for every backup that may be committed
    committed = set()  # finished, or seen listed: must stay listed and intact until deleted
    killer = Killer(rng)
    counts = {"backup finished": 0, "backup killed before commit": 0,
              "backup killed after commit": 0, "delete finished": 0, "delete killed": 0,
              "delete killed after it took effect": 0, "gc finished": 0, "gc killed": 0}
    for i in range(KILLS):
        op = rng.choice(["backup", "backup", "backup", "delete+gc", "gc"])
        if op == "backup":
            bid = "b%03d" % i
            # Each backup brings new data and old (dedup against earlier packs).
            fresh = tmp_path / ("fresh%03d" % i)
            fresh.write_bytes(rng.randbytes(2 << 20))
            files = rng.sample(sources, rng.randint(1, 2)) + [fresh]
            expected[bid] = [digest(f.read_bytes()) for f in files]
            outcome, _ = killer.run(repo, "backup", "backup", "--id", bid, *map(str, files))
            listed = bid in repo.backups()
            if outcome == "finished":
                assert listed, "backup %s finished but is not listed" % bid
                counts["backup finished"] += 1
            else:
                counts["backup killed %s commit" % ("after" if listed else "before")] += 1
            if listed:
                committed.add(bid)
        else:
            if op == "delete+gc" and committed:
                victim = rng.choice(sorted(committed))
                outcome, _ = killer.run(repo, "delete", "delete", victim)
                gone = victim not in repo.backups()
                assert gone or outcome == "killed", "delete of %s finished, still listed" % victim
                counts["delete finished" if outcome == "finished" else
                       "delete killed after it took effect" if gone else "delete killed"] += 1
                if gone:
                    committed.discard(victim)
            outcome, _ = killer.run(repo, "gc", "gc", "--incomplete-older-than", "0")
            counts["gc " + outcome] += 1
        check_all(repo, committed, expected, tmp_path, "after %s #%d" % (op, i))
    kills = sum(v for k, v in counts.items() if "killed" in k)
    print("\n%s: %d committed backups live; %s" % (driver, len(committed), counts))
    assert kills >= KILLS // 3, counts  # the kills really interrupted work
    assert counts["backup finished"] + counts["backup killed after commit"] >= 5, counts
    assert counts["backup killed before commit"] >= 3, counts
    assert counts["gc killed"] >= 2 and counts["gc finished"] >= 2, counts
    # Leftovers of killed writers are reclaimed: once every backup is gone, nothing stays.
    for bid in repo.backups():
        repo.run("delete", bid)
    repo.run("gc", "--incomplete-older-than", "0")
    stats = repo.stats()
    assert stats == {"backups": 0, "logical_mb": 0.0, "stored_mb": 0.0, "packs": 0, "chunks": 0}, stats
    if driver == "posix":
        left = [p for p in (tmp_path / "repo").rglob("*") if p.is_file()]
        names = sorted(str(p.relative_to(tmp_path / "repo")) for p in left)
        assert all(n == "config" or n.startswith("index/") for n in names), names


def check_all(repo, committed, expected, tmp_path, when):
    """Whatever the moment of the kill: every committed backup is listed, verified and restores
    byte-identical; nothing unknown is listed."""
    live = set(repo.backups())
    assert committed <= live, "%s: committed backups missing: %s" % (when, committed - live)
    assert live <= set(expected), "%s: unknown backups listed: %s" % (when, live - set(expected))
    committed |= live
    verify = repo.run("verify", check=False)
    out = verify.stdout + verify.stderr
    assert verify.returncode == 0 and "problem:" not in out, "%s: %s" % (when, out)
    assert "verified %d backups" % len(live) in out, "%s: %s" % (when, out)
    for bid in sorted(live):
        out_dir = tmp_path / ("restore-" + bid)
        out_dir.mkdir(exist_ok=True)
        repo.run("restore", bid, "--to", str(out_dir))
        for i, want in enumerate(expected[bid]):
            got = digest((out_dir / str(i)).read_bytes())
            assert got == want, "%s: backup %s stream %d differs" % (when, bid, i)
        for f in out_dir.iterdir():
            f.unlink()
