//! The shared storage conformance suite against PostgreSQL, each test in a fresh schema of the database named by
//! `CMK_TEST_POSTGRES_URL` (see `scripts/lib/postgres.sh` for a scratch server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

cmk_store::conformance_tests!(common::fresh);
