"""The CLI's `repo restore` and `repo delete` keep out of the way of the service's deletes and
restores through the repository's marks (docs/format.md "Locks"), as the service's instances keep
out of each other's. The other process is played by a mark written as the service writes one:
the CLI must honour it, name its holder, and leave no mark of its own behind. Before, `repo
restore` took no mark: a retention elsewhere could delete the backup it was reading."""
import datetime
import json
import os
import pathlib
import subprocess

BUILD = pathlib.Path(os.environ.get("MDB_BUILD", pathlib.Path(__file__).parents[2] / "build"))
CLI = str(BUILD / "src/cli/mdb-backup")


def run(repo, *args):
    return subprocess.run([CLI, "repo", "--repo", str(repo), *args], capture_output=True,
                          text=True, timeout=120)


def plant(repo, kind, what):
    """A live mark of a process on another host (its pid is never looked up there)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    mark = {"kind": kind, "host": "restorer-7", "pid": 4242, "refreshedAt": now, "what": what}
    path = repo / "locks" / ("%s-planted" % kind)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(mark))
    return path


def test_cli_restores_and_deletes_honour_the_services_marks(workdir):
    repo, data, out = workdir / "repo", workdir / "data.bin", workdir / "out"
    data.write_bytes(os.urandom(1 << 20))
    out.mkdir()
    assert run(repo, "init").returncode == 0
    r = run(repo, "backup", "--id", "b1", str(data))
    assert r.returncode == 0, r.stderr

    # A delete under way elsewhere: the restore is refused before it writes anything.
    mark = plant(repo, "delete", "b0,b1")
    r = run(repo, "restore", "b1", "--to", str(out))
    assert r.returncode == 1, r.stdout
    assert "backup 'b1' is being deleted by pid 4242 on restorer-7" in r.stderr, r.stderr
    assert "should that process be gone, it lapses at " in r.stderr, r.stderr
    assert not any(out.iterdir())
    mark.unlink()

    # A restore under way elsewhere: the delete is refused, names the restorer, and the backup
    # stays listed and restorable.
    mark = plant(repo, "read", "b1,b0")
    r = run(repo, "delete", "b1")
    assert r.returncode == 1, r.stdout
    assert "backup 'b1' is being restored (or drilled) by pid 4242 on restorer-7" in r.stderr, \
        r.stderr
    assert run(repo, "list").stdout.split()[0] == "b1"
    mark.unlink()

    r = run(repo, "restore", "b1", "--to", str(out))
    assert r.returncode == 0, r.stderr
    restored = [p for p in out.rglob("*") if p.is_file()]
    assert len(restored) == 1 and restored[0].read_bytes() == data.read_bytes()
    assert not any((repo / "locks").iterdir())  # its own mark given back
    r = run(repo, "delete", "b1")
    assert r.returncode == 0, r.stderr
    assert not any((repo / "locks").iterdir())


def test_cli_restore_gives_its_mark_back_on_failure_and_goes_on_without_one(workdir):
    """A restore that fails (no such backup) leaves no mark behind; one whose mark cannot be
    written (here `locks` is a file; in life read-only credentials or a full quota) still
    restores, with a warning that a delete elsewhere is not held off."""
    repo, data, out = workdir / "repo", workdir / "data.bin", workdir / "out"
    data.write_bytes(os.urandom(1 << 20))
    out.mkdir()
    assert run(repo, "init").returncode == 0
    assert run(repo, "backup", "--id", "b1", str(data)).returncode == 0
    r = run(repo, "restore", "nosuch", "--to", str(out))
    assert r.returncode == 1 and "nosuch" in r.stderr, r.stderr
    assert not any((repo / "locks").iterdir())

    (repo / "locks").rmdir()
    (repo / "locks").write_text("not a directory")
    r = run(repo, "restore", "b1", "--to", str(out))
    assert r.returncode == 0, r.stderr
    assert "warning: the restore goes on without its repository mark" in r.stderr, r.stderr
    assert "a delete elsewhere is not held off" in r.stderr, r.stderr
    restored = [p for p in out.rglob("*") if p.is_file()]
    assert len(restored) == 1 and restored[0].read_bytes() == data.read_bytes()
