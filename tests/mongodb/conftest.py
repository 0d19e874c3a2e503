"""Live MongoDB tests: FerretDB servers (MongoDB wire protocol) on 127.0.0.1, a real mdb-backupd
with a repository, and the official Python SDK driving backups and restores."""
from mdb_harness import factory_fixture
from mongo_harness import Mongo

mongo_factory = factory_fixture(Mongo)
