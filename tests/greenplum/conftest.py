"""Live Greenplum-engine tests: PostgreSQL 15 servers as coordinator and segments on 127.0.0.1."""
from mdb_harness import factory_fixture
from pg_harness import Postgres

pg_factory = factory_fixture(Postgres)
