//! Balances and their ledger. Every change of a balance and its ledger entry
//! are written by one statement, so the ledger always adds up to the balance.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ids::UserId;
use sqlx::{PgConnection, PgPool};

use crate::domain::{ChargeAmount, MAX_BALANCE, rfc3339};

/// `{"user_id", "balance"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub user_id: UserId,
    /// KRW, never negative; equal to the user's charges minus payments.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub balance: i64,
}

/// The user's balance; `None` when the user does not exist.
pub async fn balance(db: &PgPool, user: UserId) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT b.balance FROM users u LEFT JOIN balances b USING (user_id) WHERE u.user_id = $1",
    )
    .bind(user.get())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(balance,)| balance.unwrap_or(0)))
}

/// Whether the user exists.
pub async fn user_exists(db: &PgPool, user: UserId) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = $1")
        .bind(user.get())
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// Add `amount` to the balance and write the ledger entry, atomically (one
/// statement). `None` when the balance would pass [`MAX_BALANCE`] or the
/// user has no balance: nothing was written.
pub async fn charge(
    conn: &mut PgConnection,
    user: UserId,
    amount: ChargeAmount,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH credited AS (
             UPDATE balances SET balance = balance + $2, updated_at = $3
             WHERE user_id = $1 AND balance <= $4 - $2
             RETURNING user_id, balance
         ), entry AS (
             INSERT INTO balance_ledger (user_id, kind, amount, balance_after, at)
             SELECT user_id, 'charge', $2, balance, $3 FROM credited
         )
         SELECT balance FROM credited",
    )
    .bind(user.get())
    .bind(amount.get())
    .bind(now)
    .bind(MAX_BALANCE)
    .fetch_optional(conn)
    .await
}

/// One ledger entry as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    #[schema(minimum = 1)]
    pub entry_id: i64,
    /// The direction of `amount`: `charge` adds, `payment` subtracts.
    #[schema(value_type = EntryKind)]
    pub kind: String,
    /// KRW, positive.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// The balance after this entry, KRW.
    #[schema(minimum = 0)]
    pub balance_after: i64,
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
}

/// The values of [`Entry::kind`] (the ledger's `kind` column).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Charge,
    Payment,
}

/// The user's entries, newest first, older than `before` if given, at most
/// `limit` of them.
pub async fn history(
    db: &PgPool,
    user: UserId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT entry_id, kind, amount, balance_after, at FROM balance_ledger
         WHERE user_id = $1 AND ($2::BIGINT IS NULL OR entry_id < $2)
         ORDER BY entry_id DESC
         LIMIT $3",
    )
    .bind(user.get())
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}
