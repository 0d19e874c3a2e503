"""A hostile OpenSearch node (fake_opensearch.py: raw HTTP/1.1, every byte ours) cannot take the
service down. For each hostile reply -- JSON nested a million deep, 60 MiB of tiny values,
declared lengths of 5 GB and 2^63 - 1, a chunk size past 64 bits, a truncated body, bodies and
headers that never end (streamed up to 300 MB), not JSON, not HTTP -- sent to GET / and to later
requests of the backup (the snapshot repository, the snapshot, its status), the backup fails with
the expected code and a message naming the host, the request and the problem; the service stays
up and bounded in memory, and another cluster's backup finishes (hostile_lib.check_hostile_backup).
Codes: a reply that never came whole is UNAVAILABLE (a retry may find the node well); one that
came whole but cannot be used (over 64 MiB, too deep, too many values, not JSON) is DATA_LOSS. At
GET / every failure is UNAVAILABLE: the node is skipped as not answering (another host of the
cluster would be tried), with its reason in the message."""
import grpc
import pytest

import hostile_lib
from fake_opensearch import KINDS, STREAM_BUDGET, FakeOpenSearch
from hostile_lib import check_hostile_backup
from mdb_harness import start_server, wait_operation

UNAVAILABLE, DATA_LOSS = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS

# What the service makes of each reply: a code and the reason in its message (curl's own
# reason for transport failures, ParseReply's for bodies).
OUTCOMES = {
    "deep_nesting": (DATA_LOSS, "reply nested deeper than 64 levels"),
    "deep_nesting_chunked": (DATA_LOSS, "reply nested deeper than 64 levels"),
    "wide_arrays": (DATA_LOSS, "reply holding more than 1048576 values"),
    "wide_objects": (DATA_LOSS, "reply holding more than 1048576 values"),
    "wide_numbers": (DATA_LOSS, "reply holding more than 1048576 values"),
    "huge_content_length": (UNAVAILABLE, "transfer closed with 4999999977 bytes remaining to read"),
    "huge_chunk": (UNAVAILABLE, "transfer closed with outstanding read data remaining"),
    "chunk_size_overflow": (UNAVAILABLE, "Too long hexadecimal number in chunked-encoding"),
    "truncated": (UNAVAILABLE, "transfer closed with 990 bytes remaining to read"),
    "endless_chunks": (DATA_LOSS, "reply larger than 64 MiB"),
    "endless_huge_chunk": (DATA_LOSS, "reply larger than 64 MiB"),
    "endless_body_no_length": (DATA_LOSS, "reply larger than 64 MiB"),
    # curl 7.88 says only "Out of memory" of a header line over its 100 KiB limit.
    "endless_header_line": (UNAVAILABLE, "a reply header line longer than 100 KiB"),
    "endless_headers": (UNAVAILABLE, "Too large response headers"),
    "not_json": (DATA_LOSS, "reply not JSON"),
    "not_http": (UNAVAILABLE, "Received HTTP/0.9 when not allowed"),
}
assert set(OUTCOMES) == set(KINDS)

# The request each step is (opensearch_backup.cc), as the message names it.
REQUESTS = {"root": "GET /", "repository": "GET /_snapshot/mdb-backup",
            "snapshot": "PUT /_snapshot/mdb-backup/mdb-", "status": "GET /_snapshot/mdb-backup/mdb-"}

# Every kind at GET /; at later requests, one of each family (the client code is the same for
# every request: these show that the step's own reading of the reply adds no hole).
CASES = [("root", k) for k in OUTCOMES] + [
    ("repository", "deep_nesting"),  # read through Call(): its 200 must not pass as "no repository"
    ("repository", "not_json"),
    ("snapshot", "wide_objects"),  # the one call waited for a day
    ("snapshot", "endless_huge_chunk"),
    ("status", "deep_nesting"),  # was taken as a status with no sizes: the backup succeeded
    ("status", "wide_arrays"),
    ("status", "not_json"),
    ("status", "truncated"),
    ("status", "endless_chunks"),
    ("status", "endless_header_line"),
]


def declaration(cluster_id, node):
    """The cluster with its snapshot directory, without which a backup stops after GET /."""
    return ("  - id: %s\n    folder_id: f1\n    engine: opensearch\n    hosts:\n"
            "      - {address: \"%s\", repository_path: \"%s\"}\n"
            % (cluster_id, node.address, node.repository_path))


@pytest.fixture
def fake(workdir, request):
    at, kind = request.param
    node = FakeOpenSearch(workdir / "snapshots", kind, at)
    try:
        yield node
    finally:
        node.close()


@pytest.mark.parametrize("fake", CASES, indirect=True, ids=["%s-%s" % c for c in CASES])
def test_hostile_reply_fails_the_backup_only(workdir, fake):
    code, reason = OUTCOMES[fake.kind]
    parts = ["opensearch %s: %s" % (fake.address, REQUESTS[fake.at]), reason]
    if fake.at == "root":
        code = UNAVAILABLE
        parts.append("cluster 'bad': no OpenSearch node answers:")
    message = check_hostile_backup(workdir, "opensearch", fake.address, code, parts,
                                   declaration=declaration("bad", fake))
    print(fake.at, fake.kind, "->", code.name, message)
    # The hostile reply was what ended it, at the step meant, and nothing was asked after it.
    assert fake.hostile_sent.is_set() and fake.steps[-1] == fake.at, fake.steps
    # The service hung up on endless replies instead of draining them.
    assert fake.sent < STREAM_BUDGET // 2, fake.sent


def test_the_fake_node_is_good_enough_for_a_backup(workdir):
    """Without hostility the fake serves a whole backup: each failure above is its reply's."""
    node = FakeOpenSearch(workdir / "snapshots")
    try:
        server = start_server(workdir, declaration("ok", node))
        try:
            op = wait_operation(server, hostile_lib.backup(server, "opensearch", "ok"), timeout=60)
            assert not op.HasField("error"), op.error
            # First the pre-flight check (GET /, then GET /_cluster/health, which the fake does
            # not serve: a check that cannot ask leaves the verdict to the backup), then the backup;
            # its document counts for drills (POST /_refresh, not served either: the backup goes
            # on without those facts, and does not ask again after the snapshot).
            assert node.steps == ["root", "other", "root", "repository", "register", "other",
                                  "snapshot", "status", "list"], node.steps
        finally:
            server.stop()
    finally:
        node.close()
