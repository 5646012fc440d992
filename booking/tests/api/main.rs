//! Integration tests of the booking service against real Redis and Postgres.

mod auth;
mod bad_input;
mod catalog;
mod concurrency;
mod expiry;
mod health;
mod helpers;
mod holds;
mod idempotency;
mod metrics;
mod openapi;
mod outages;
mod payments;
mod sessions;
