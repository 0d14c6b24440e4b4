//! Shared support for eplink integration tests.
