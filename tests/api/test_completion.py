"""deploy/bash-completion/mdb-backup, run in bash: what it offers after what was typed, and that
every command and option it offers is one the CLI takes (its --help lists them)."""
import pathlib
import subprocess

from mdb_harness import CLI

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "deploy/bash-completion/mdb-backup"


def complete(line):
    words = line.split(" ")
    r = subprocess.run(["bash", "-c", 'source "$0"; COMP_WORDS=("${@}"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                        '_mdb_backup; printf "%s\\n" "${COMPREPLY[@]}"', str(SCRIPT), *words],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_completion_offers_what_the_cli_takes():
    assert complete("mdb-backup ba") == ["backup"]
    assert complete("mdb-backup backup l") == ["list"]
    assert complete("mdb-backup --format json backup restore --engine greenplum --t") == ["--to", "--time"]
    assert complete("mdb-backup backup list --engine r") == ["redis"]
    assert complete("mdb-backup --format y") == ["yaml"]
    # Everything offered exists: each command's --help names its subcommands and options.
    for path, offered in [([], complete("mdb-backup ")),
                          (["backup"], complete("mdb-backup backup ")),
                          (["backup", "restore"], complete("mdb-backup backup restore ")),
                          (["backup", "list"], complete("mdb-backup backup list ")),
                          (["cluster", "check"], complete("mdb-backup cluster check "))]:
        help_text = subprocess.run([str(CLI), *path, "--help"], capture_output=True, text=True).stdout
        for word in offered:
            assert word in help_text, (path, word, help_text)
