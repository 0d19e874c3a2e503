"""Live Redis tests: real redis-server processes on 127.0.0.1, a real mdb-backupd with a
repository, and the official Python SDK driving backups and restores."""
from mdb_harness import factory_fixture
from redis_harness import Redis

redis_factory = factory_fixture(Redis)
