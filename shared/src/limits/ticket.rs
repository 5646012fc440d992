//! Polls of one queue ticket (API.md, Limits): faster than
//! `RATE_LIMIT_TICKET_POLLS_PER_SEC` (4) per second is over budget. The fan
//! pages poll when the answer's `poll_after_ms` says, at least 250 ms apart,
//! so they never meet it. Counted in process: a client spreading its polls
//! over several replicas gets each replica's budget.

use std::num::NonZeroU32;

use governor::Quota;
use uuid::Uuid;

use super::bounded::{BoundedLimiter, Overflow};
use super::rate_limited;
use crate::problem::Problem;

/// Tickets whose state is kept at once; past it, a ticket not in the table
/// is judged as fresh (a flood of tickets needs joins, which the per-user
/// budget limits).
pub const MAX_TICKETS: usize = 250_000;

/// The per-ticket poll budget.
pub struct TicketPollLimiter {
    limiter: Option<BoundedLimiter<Uuid>>,
}

impl TicketPollLimiter {
    /// `per_sec` polls per second of one ticket, as a burst too; `0` turns
    /// the limit off.
    pub fn new(per_sec: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_sec).map(|rate| {
                BoundedLimiter::new(Quota::per_second(rate), MAX_TICKETS, Overflow::Fresh)
            }),
        }
    }

    /// Count one poll of `ticket`; `429 RATE_LIMITED` when it comes too soon.
    pub fn check(&self, ticket: Uuid) -> Result<(), Problem> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter.check(&ticket).map_err(|wait| {
                rate_limited(
                    "ticket",
                    wait,
                    "this ticket is polled too often; poll again after poll_after_ms",
                )
            }),
        }
    }
}
