"""Damage campaign against `mdb-backup repo` on plain and encrypted repositories: each object of a
committed backup (packs, manifest, index) is truncated, cut short, bit-flipped at its start, middle
and end, or deleted, and a foreign object is added. Whatever the damage: verify (compared with a
catalog that lists the backup) exits non-zero naming the backup, or restore gives back exactly
the original bytes; restore never returns wrong data with exit code 0."""
import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("MDB_BUILD", pathlib.Path(__file__).parents[2] / "build"))
CLI = str(BUILD / "src/cli/mdb-backup")


def import_record(catalog, backup_id):
    """A catalog that lists `backup_id`, as the service's would."""
    record = '{"id": "%s", "engine": "REDIS", "folderId": "f1", "clusterId": "c1", ' \
             '"createdAt": "2026-12-01T00:00:00Z"}\n' % backup_id
    subprocess.run([CLI, "catalog", "import", "--catalog", str(catalog), "-"], input=record.encode(),
                   check=True, capture_output=True)


def run(repo, key_args, *args):
    return subprocess.run([CLI, "repo", "--repo", str(repo), *key_args, *args], capture_output=True,
                          text=True, timeout=120)


def damages(data):
    """(name, damaged bytes) for one object."""
    n = len(data)
    flip = lambda i: data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:]
    return [("truncated by one byte", data[:-1]), ("cut in half", data[:n // 2]),
            ("empty", b""), ("first byte flipped", flip(0)), ("middle byte flipped", flip(n // 2)),
            ("last byte flipped", flip(n - 1)), ("deleted", None)]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_damage_is_detected_and_never_restored_as_data(tmp_path, encrypted):
    key_args = []
    if encrypted:
        key = tmp_path / "key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        key_args = ["--key-file", str(key)]
    pristine = tmp_path / "pristine"
    src = tmp_path / "src"
    src.write_bytes(os.urandom(300000) + b"compressible " * 100000)
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    r = run(pristine, key_args, "init", "--chunk-avg-kib", "64")
    assert r.returncode == 0, r.stderr
    r = run(pristine, key_args, "backup", "--id", "b1", str(src))
    assert r.returncode == 0, r.stderr
    objects = sorted(str(p.relative_to(pristine)) for p in pristine.rglob("*")
                     if p.is_file() and p.name != "config" and not p.name.startswith("."))
    assert any(o.startswith("packs/") for o in objects) and "manifests/b1" in objects, objects
    catalog = tmp_path / "catalog.db"
    import_record(catalog, "b1")
    missed, wrong = [], []
    cases = 0
    # An object added by someone else: a manifest that is not one.
    repo = tmp_path / "repo"
    shutil.copytree(pristine, repo)
    (repo / "manifests" / "planted").write_bytes(os.urandom(200))
    verify = run(repo, key_args, "verify", "--catalog", str(catalog))
    assert verify.returncode == 3 and "planted" in verify.stdout, verify.stdout + verify.stderr
    shutil.rmtree(repo)
    for obj in objects:
        for what, data in damages((pristine / obj).read_bytes()):
            cases += 1
            repo = tmp_path / "repo"
            shutil.rmtree(repo, ignore_errors=True)
            shutil.copytree(pristine, repo)
            if data is None:
                (repo / obj).unlink()
            else:
                (repo / obj).write_bytes(data)
            # A deleted manifest is a backup the repository no longer has: the catalog tells.
            verify = run(repo, key_args, "verify", "--catalog", str(catalog))
            flagged = verify.returncode != 0 and "all intact" not in verify.stdout
            out = tmp_path / "out"
            shutil.rmtree(out, ignore_errors=True)
            restore = run(repo, key_args, "restore", "b1", "--to", str(out))
            if restore.returncode == 0:
                got = hashlib.sha256((out / "0").read_bytes()).hexdigest()
                if got != want:
                    wrong.append("%s %s" % (obj, what))
                continue  # the data is intact whatever verify said
            if not flagged:
                missed.append("%s %s: verify said %r; restore said %r" % (
                    obj, what, verify.stdout.strip()[-200:], restore.stderr.strip()[-200:]))
    print("\n%d damaged repositories; %d missed by verify; %d restored wrong data" % (
        cases, len(missed), len(wrong)))
    assert not wrong, wrong
    assert not missed, "\n".join(missed)
