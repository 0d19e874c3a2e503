"""docs/api.md's curl examples, run as written (placeholders filled) against a server, for every
engine: each documented route exists, takes the documented verb and body, and answers what the
docs say it returns. A route the docs get wrong, or a served method the docs leave out, fails."""
import json
import pathlib
import re
import subprocess

from mdb_harness import running_server

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs/api.md"
# What each engine's examples act on (the harness's records and clusters).
VALUES = {
    "greenplum": {"BACKUP_ID": "gp-base", "CLUSTER_ID": "gp1", "TARGET_ID": "gp1"},
    "mongodb": {"BACKUP_ID": "mg-1", "CLUSTER_ID": "mg1", "TARGET_ID": "mg1"},
    "redis": {"BACKUP_ID": "rd-1", "CLUSTER_ID": "rd1", "TARGET_ID": "rd1"},
    "opensearch": {"BACKUP_ID": "os-1", "CLUSTER_ID": "os1", "TARGET_ID": "os1"},
}
PROTO = DOC.parents[1] / "proto/yandex/cloud"


def served():
    """Every method of the public protos (Service.Method): the server answers them all."""
    out = set()
    for f in [*PROTO.glob("mdb/*/v1/*_service.proto"), PROTO / "operation/operation_service.proto",
              DOC.parents[1] / "proto/mdb_backup/v1/recovery_service.proto"]:
        text = f.read_text()
        for service, body in re.findall(r"^service (\w+) \{(.*?)^\}", text, re.S | re.M):
            out |= {"%s.%s" % (service, m) for m in re.findall(r"^\s*rpc (\w+)\(", body, re.M)}
    return out


def examples():
    """(method, engines it applies to, curl command) from the section's sh block."""
    text = DOC.read_text()
    section = text[text.index("## Every method over REST"):text.index("## Authentication and authorization")]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    out, comment = [], None
    for line in block.splitlines():
        if line.startswith("# "):
            comment = line[2:]
        elif line.startswith("curl "):
            method = comment.split(":")[0].split(" (")[0]
            m = re.search(r"\(([a-z, ]+)\)", comment.split(":")[0])
            engines = [e.strip() for e in m.group(1).split(",")] if m else list(VALUES)
            if "managed-ENGINE" not in line and "/managed-" in line:
                engines = [re.search(r"/managed-([a-z]+)/", line).group(1)]
            out.append((method, engines, line))
    return out


def run(line, api, values):
    for k, v in values.items():
        line = line.replace(k, v)
    line = line.replace("$API", api).replace("$TOKEN", "writer-token-1")
    r = subprocess.run(["bash", "-c", line + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                       timeout=60)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(body)


def test_every_documented_call_answers_as_documented():
    found = examples()
    want = served()
    assert "ClusterService.ListOperations" in want and "OperationService.Cancel" in want, want
    assert {m for m, _, _ in found} == want, "docs/api.md must show every served method once"
    with running_server() as server:
        for engine, values in VALUES.items():
            values = dict(values, ENGINE=engine, FOLDER_ID="f1")
            for method, engines, line in found:
                if engine not in engines:
                    continue
                code, body = run(line, server.rest, values)
                what = "%s (%s): %s" % (method, engine, body)
                if method == "OperationService.Cancel":
                    # The operation may have ended already (the cluster's hosts do not exist).
                    assert code == 200 or (code == 400 and body["code"] == 9), what
                    continue
                assert code == 200, what
                if method == "BackupService.Get":
                    assert body["id"] == values["BACKUP_ID"], what
                elif method == "ClusterService.Get":
                    assert body["id"] == values["CLUSTER_ID"] and body["status"] == "RUNNING", what
                elif method == "ClusterService.List":
                    assert values["CLUSTER_ID"] in [c["id"] for c in body["clusters"]], what
                elif method == "RecoveryService.GetRecoveryWindow":
                    assert body["clusterId"] == values["CLUSTER_ID"], what
                elif method == "RecoveryService.ListVerifications":
                    assert values["BACKUP_ID"] in [b["backupId"] for b in body["backups"]], what
                elif method == "ClusterService.ListOperations":  # after the Backup example
                    assert body["operations"][0]["description"].startswith("Create backup"), what
                elif method in ("BackupService.List", "ClusterService.ListBackups"):
                    assert values["BACKUP_ID"] in [b["id"] for b in body["backups"]], what
                else:  # an Operation
                    assert body["id"] and "metadata" in body, what
                    if method == "ClusterService.Backup":
                        values["OPERATION_ID"] = body["id"]
                    if method == "OperationService.Get":
                        assert body["id"] == values["OPERATION_ID"], what
