"""What the binaries refuse before serving anything: `mdb-backupd --check` on valid and invalid
configurations, a catalog newer than the binary, and a repository opened with the wrong key
through the CLI (the service's refusal of a wrong key is in tests/redis, where its repository
holds a real backup)."""
import hashlib
import os
import re
import sqlite3
import subprocess

from mdb_harness import CLI, RECORDS, SERVER, Server, write_key

VALID = """server:
  catalog: catalog.db
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
tokens:
  - {token: writer-token-1, subject: writer, read: [f1], write: [f1]}
clusters:
  - id: cache
    folder_id: f1
    engine: redis
    retention_days: 7
    hosts: ["127.0.0.1:6379"]
  - {id: docs, folder_id: f1, engine: mongodb, shards: [{name: rs01, hosts: ["127.0.0.1:27017"]}]}
"""

# (what is wrong, the line to change, its replacement, what the message must say)
INVALID = [
    ("unknown engine", "    engine: redis", "    engine: redys", "unknown engine 'redys'"),
    ("misspelt key", "    retention_days: 7", "    retention_dayz: 7", "retention_dayz"),
    ("value out of range", "    retention_days: 7", "    retention_days: 0", "retention_days"),
    ("short token", "  - {token: writer-token-1,", "  - {token: short,", "at least 8 characters"),
    ("cluster declared twice", "  - {id: docs,", "  - {id: cache,", "cluster 'cache' is declared twice"),
    # yaml-cpp keeps the first of two keys silently: a duplicated `read:` emptied a token's folders.
    ("misspelt host setting", '    hosts: ["127.0.0.1:6379"]',
     '    hosts: [{address: "127.0.0.1:6379", pasword_file: /etc/redis.pass}]',
     "unknown host setting 'pasword_file' for redis (expected one of: address, max_lag_bytes, password, password_file, user)"),
    ("key given twice", '    hosts: ["127.0.0.1:6379"]', "    retention_days: 9",
     "key 'retention_days' is given twice"),
]


def check(config):
    return subprocess.run([str(SERVER), "--config", str(config), "--check"], capture_output=True, text=True,
                          timeout=120)


def test_both_binaries_say_their_version_and_help():
    for binary in (SERVER, CLI):
        r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r"%s \d+\.\d+\.\d+\n" % binary.name, r.stdout), r.stdout
        r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        assert ("--config FILE" if binary == SERVER else "list, show and delete backups") in r.stdout, r.stdout
    r = subprocess.run([str(SERVER), "--bogus"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage: mdb-backupd" in r.stderr, r


def test_cli_point_in_time_mistakes_are_named_before_any_call():
    """Nothing listens at the endpoint: each mistake is reported without reaching it."""
    def restore(*args):
        return subprocess.run([str(CLI), "--endpoint", "http://127.0.0.1:1", "--token", "t" * 16, "backup",
                               "restore", "--to", "target", *args], capture_output=True, text=True, timeout=60)
    for args, message in [
            (["--engine", "redis", "--time", "2026-12-04T05:00:00Z", "b1"], "own consistent point"),
            (["--engine", "greenplum", "--time", "2026-12-04 05:00:00"], "RFC 3339"),
            (["--engine", "greenplum", "--time", "2026-12-04T05:00:00Z"], "--time with --cluster"),
            (["--engine", "greenplum"], "give the backup to restore"),
            (["--engine", "mongodb", "--time", "2026-12-04T05:00:00Z", "b1"], "own consistent point"),
            (["--engine", "greenplum", "--time", "", "b1"], "--time is empty"),
            (["--engine", "greenplum", "--time", "2026-12-04T05:00:00Z", "--cluster", "c", "b1"], "not both"),
            (["--engine", "greenplum", "--time", "2026-10-25 02:30:00 Europe/Berlin", "b1"], "happens twice")]:
        r = restore(*args)
        assert r.returncode == 1 and message in r.stderr, (args, r.stderr)
        assert "cannot reach" not in r.stderr, (args, r.stderr)


def test_check_accepts_a_valid_config_and_starts_nothing(workdir):
    """--check exits 0 and says what it read; it creates no catalog and no repository."""
    config = workdir / "config.yaml"
    config.write_text(VALID)
    r = check(config)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "%s: OK (2 clusters, 1 tokens)" % config, r.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml"]


def test_check_refuses_an_invalid_config_with_file_and_line(workdir):
    """Each broken variant of a valid file exits non-zero with `FILE:LINE: what is wrong`, LINE
    being the line that was broken."""
    config = workdir / "config.yaml"
    for what, old, new, message in INVALID:
        lines = VALID.splitlines()
        line = next(i for i, l in enumerate(lines) if l.startswith(old)) + 1
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        config.write_text("\n".join(lines) + "\n")
        r = check(config)
        assert r.returncode != 0, what
        # libmongoc may warn on stderr first when it loads (a stale /dev/shm counter file of a
        # killed process with the same pid): the service's own line is the one that counts.
        ours = [l for l in r.stderr.splitlines() if l.startswith("mdb-backupd: ")]
        assert len(ours) == 1 and ours[0].startswith("mdb-backupd: %s:%d: " % (config, line)), (what, r.stderr)
        assert message in r.stderr, (what, r.stderr)
        assert r.stdout == "", (what, r.stdout)


def test_a_catalog_newer_than_the_binary_is_refused(workdir):
    """A catalog whose schema version (PRAGMA user_version) is above this build's: the server
    exits non-zero naming the catalog, its version and the build's, and leaves it as it was; the
    CLI's catalog import refuses it too."""
    server = Server(workdir)
    server.import_records(RECORDS[:1])  # creates the catalog at this build's version
    db = sqlite3.connect(server.catalog)
    current = db.execute("PRAGMA user_version").fetchone()[0]
    assert current >= 1
    db.execute("PRAGMA user_version = %d" % (current + 1))
    db.commit()
    rows = db.execute("SELECT id, record FROM backups").fetchall()
    db.close()
    code, err = server.run_until_exit()
    assert code != 0, err
    assert str(server.catalog) in err and "schema version %d" % (current + 1) in err, err
    assert "newer than this build's %d" % current in err, err
    r = subprocess.run([str(CLI), "catalog", "import", "--catalog", str(server.catalog), "-"],
                       input='{"id": "x", "engine": "REDIS", "folderId": "f1", "clusterId": "rd1"}\n',
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "newer than this build's %d" % current in r.stderr, r.stderr
    db = sqlite3.connect(server.catalog)
    assert db.execute("PRAGMA user_version").fetchone()[0] == current + 1
    assert db.execute("SELECT id, record FROM backups").fetchall() == rows
    db.close()
    server.log.close()


def tree(path):
    """Every file under `path` with the SHA-256 of its contents."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_wrong_repository_key_is_refused_by_the_cli(workdir):
    """Every `mdb-backup repo` command given another key than the repository's exits non-zero
    with a clear message, and not one file of the repository changes; no key at all is refused
    the same way. The right key then lists and restores the backup byte for byte."""
    right, wrong = write_key(workdir / "right.key"), write_key(workdir / "wrong.key")
    repo, data, out = workdir / "repo", workdir / "data.bin", workdir / "out"
    data.write_bytes(os.urandom(3 << 20))
    out.mkdir()

    def run(key, *args):
        key_args = ["--key-file", str(key)] if key else []
        return subprocess.run([str(CLI), "repo", "--repo", str(repo), *key_args, *args],
                              capture_output=True, text=True, timeout=300)

    r = run(right, "init")
    assert r.returncode == 0, r.stderr
    r = run(right, "backup", "--id", "b1", str(data))
    assert r.returncode == 0, r.stderr
    before = tree(repo)
    for key, message in [(wrong, "the key does not open the repository"), (None, "is encrypted: give its key file")]:
        for args in [["list"], ["stats"], ["verify"], ["gc"], ["backup", "--id", "b2", str(data)],
                     ["restore", "b1", "--to", str(out)], ["delete", "b1"]]:
            r = run(key, *args)
            assert r.returncode != 0, (key, args, r.stdout)
            assert message in r.stderr and str(repo) in r.stderr, (key, args, r.stderr)
            assert tree(repo) == before, (key, args)
            assert not any(out.iterdir()), (key, args)  # the restore wrote nothing either
    r = run(wrong, "init")  # nor can a second init replace the repository
    assert r.returncode != 0 and "already exists" in r.stderr, r.stderr
    assert tree(repo) == before
    r = run(right, "list")
    assert r.returncode == 0 and r.stdout.split()[0] == "b1", r.stdout + r.stderr
    r = run(right, "restore", "b1", "--to", str(out))
    assert r.returncode == 0, r.stderr
    restored = [p for p in out.rglob("*") if p.is_file()]
    assert len(restored) == 1 and restored[0].read_bytes() == data.read_bytes(), restored
