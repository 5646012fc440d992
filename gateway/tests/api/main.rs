//! Integration tests of the gateway against real Redis and Postgres.

mod bad_input;
mod helpers;
mod http_limits;
mod identity;
mod lifecycle;
mod limits;
mod metrics;
mod onsale;
mod openapi;
mod outage;
mod queue_order;
mod redis_loss;
mod replicas;
mod shutdown;
mod tokens;
mod unknown_concerts;
