"""GET /openapi.json (issue #17): an OpenAPI 3 document generated from the protos' google.api.http
annotations, valid for a standard validator, served without a token; every route in it answers
on the server (none is unknown to the router or refused as a verb it does not take)."""
import re

import requests
from openapi_spec_validator import validate

from mdb_harness import WRITER, running_server

# What each engine's paths act on (the harness's records and clusters).
VALUES = {"greenplum": {"cluster_id": "gp1", "backup_id": "gp-base"},
          "mongodb": {"cluster_id": "mg1", "backup_id": "mg-1"},
          "redis": {"cluster_id": "rd1", "backup_id": "rd-1"},
          "opensearch": {"cluster_id": "os1", "backup_id": "os-1"}}


def test_the_document_is_valid_and_every_route_answers():
    with running_server() as server:  # its own: the routes' calls back up, restore and delete
        check_document(server)


def check_document(server):
    r = requests.get(server.rest + "/openapi.json")  # no token: the document is public
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
    doc = r.json()
    assert doc["info"]["version"] == "v1"  # the API's version: the build's is not told without a token
    # Nothing past the headers of a request without a token is read: a body is refused unread.
    for path in ("/openapi.json", "/console/", "/healthz", "/readyz"):
        r = requests.get(server.rest + path, data=b"x" * 100000)
        assert r.status_code == 400 and "takes no request body" in r.json()["message"], (path, r.text)
    validate(doc)  # raises on any violation of the OpenAPI 3.0 schema
    ops = {(path, verb): op for path, item in doc["paths"].items() for verb, op in item.items()}
    ids = {op["operationId"] for op in ops.values()}
    # Generated from the protos: every engine's backup methods, the cluster methods, operations.
    for engine in VALUES:
        for method in ("BackupService.Get", "BackupService.List", "ClusterService.Get", "ClusterService.List",
                       "ClusterService.ListBackups", "ClusterService.ListOperations", "ClusterService.Backup",
                       "ClusterService.Restore"):
            assert "yandex.cloud.mdb.%s.v1.%s" % (engine, method) in ids, (engine, method)
    assert "yandex.cloud.operation.OperationService.Cancel" in ids
    # The proto3 JSON mapping: 64-bit integers are strings, times RFC 3339, enums by name.
    backup = doc["components"]["schemas"]["yandex.cloud.mdb.redis.v1.Backup"]["properties"]
    assert backup["createdAt"] == {"type": "string", "format": "date-time"}, backup
    listing = doc["components"]["schemas"]["yandex.cloud.mdb.redis.v1.ListBackupsResponse"]
    assert listing["properties"]["nextPageToken"] == {"type": "string"}
    get = ops[("/managed-redis/v1/backups", "get")]
    assert {p["name"]: p["in"] for p in get["parameters"]} == {"folderId": "query", "pageSize": "query",
                                                              "pageToken": "query"}
    op_id = None
    for (path, verb), op in sorted(ops.items(), key=lambda kv: kv[0][1] == "delete"):  # deletes last
        engine = re.match(r"/managed-([a-z]+)/", path)
        # The service's own routes (mdb-backup/v1) take any engine's cluster.
        values = dict(VALUES[engine.group(1)] if engine else VALUES["greenplum"], operation_id=op_id or "none")
        url = server.rest + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        query = {"folderId": "f1"} if any(p["name"] == "folderId" for p in op.get("parameters", [])) else {}
        r = requests.request(verb.upper(), url, params=query, json={} if "requestBody" in op else None,
                             headers={"Authorization": "Bearer " + WRITER})
        what = "%s %s: %s %s" % (verb, path, r.status_code, r.text[:300])
        assert r.status_code not in (405, 501), what
        assert "no API route" not in r.text, what
        if path.endswith(":backup"):
            assert r.status_code == 200, what
            op_id = r.json()["id"]
