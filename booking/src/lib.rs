//! The booking service: concerts, schedules and their 50 seats, five-minute
//! seat holds (a Redis `SET NX PX` gate in front of a conditional Postgres
//! write), a prepaid balance with a ledger, and payments. It verifies the
//! gateway's access tokens and checks the concert's active set in Redis. It is
//! also the identity provider: users log in with a password and get a
//! session token ([`sessions`]).
//!
//! The binary (`main.rs`) is a thin wrapper around [`Application`].

pub mod admin;
pub mod audit;
pub mod auth;
pub mod balance;
pub mod catalog;
pub mod concerts;
pub mod domain;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod passwords;
pub mod payments;
pub mod redis_gate;
pub mod reservations;
pub mod seats;
pub mod seed;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod sweeper;

pub use settings::Settings;
pub use startup::Application;
