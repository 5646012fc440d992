//! The waiting room of the ticketing product.
//!
//! Per-concert FIFO queues in Redis ([`keys`] documents every key), an
//! admission [`ticker`] that is exactly-once across replicas, and signed
//! queue tickets and access tokens ([`tokens`]). Postgres is read to check
//! concerts ([`directory`]) and keeps what of the queues must survive a loss
//! of Redis's data ([`recovery`]).

pub mod availability;
pub mod clock;
pub mod directory;
pub mod draw;
pub mod error;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod queue;
pub mod recovery;
pub mod settings;
pub mod startup;
pub mod state;
pub mod ticker;
pub mod tokens;
pub mod web;

pub use clock::{Clock, ManualClock, SystemClock};
pub use settings::Settings;
pub use startup::Application;
