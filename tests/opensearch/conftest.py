"""Live OpenSearch tests: real OpenSearch nodes on 127.0.0.1, a real mdb-backupd with a
repository, and the official Python SDK driving backups, restores and deletions."""
from mdb_harness import factory_fixture
from opensearch_harness import OpenSearch

opensearch_factory = factory_fixture(OpenSearch)
