//! Integration tests of the booking service against real Redis and Postgres.

mod auth;
mod bad_input;
mod catalog;
mod checkout;
mod concurrency;
mod expiry;
mod health;
mod helpers;
mod history;
mod holds;
mod idempotency;
mod limits;
mod metrics;
mod openapi;
mod outages;
mod payments;
mod seat_map;
mod serving;
mod sessions;
mod text_fields;
