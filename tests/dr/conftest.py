"""Disaster-recovery tests: Redis and PostgreSQL servers on 127.0.0.1, the S3 peer (versitygw)."""
from mdb_harness import factory_fixture, proxy_fixture
from pg_harness import Postgres
from redis_harness import Redis

pg_factory = factory_fixture(Postgres)
redis_factory = factory_fixture(Redis)
proxy_factory = proxy_fixture()
