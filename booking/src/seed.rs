//! Demo data for a fresh installation (`booking seed`): ten users with
//! 500,000 KRW each and the password [`DEMO_PASSWORD`] (printed by
//! `scripts/up.sh`; a demo, not a secret), charged through the ledger like any other charge, and
//! three concerts with four upcoming dates of 50 seats each (the first ten
//! seats of every date are premium seats at a higher price).
//!
//! Running it again changes nothing: users and concerts are recognised by
//! name and title, and concurrent runs wait for each other.

use anyhow::Context;
use chrono::{Days, NaiveTime, Utc};
use sqlx::PgPool;

use crate::admin::{NewConcert, NewSchedule, insert_concert, insert_user};
use crate::balance::store::charge;
use crate::domain::{self, ChargeAmount};

/// Demo users, created in this order (user ids 1..=10 on a fresh database).
pub const USERS: [&str; 10] = [
    "Minji Kim",
    "Jisoo Park",
    "Seojun Lee",
    "Hana Choi",
    "Doyun Jung",
    "Yuna Kang",
    "Jiho Yoon",
    "Sora Jang",
    "Taeyang Lim",
    "Eunbi Han",
];

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "concert-demo";

/// Balance each demo user starts with, in KRW.
pub const STARTING_BALANCE: i64 = 500_000;

/// Demo concerts: title, venue, price of a seat, price of a premium seat.
pub const CONCERTS: [(&str, &str, i64, i64); 3] = [
    ("Aurora Live in Seoul", "KSPO Dome", 99_000, 150_000),
    ("Han River Jazz Night", "Sejong Center", 50_000, 88_000),
    ("Symphony of Seasons", "Seoul Arts Center", 70_000, 120_000),
];

/// Seats `1..=PREMIUM_SEATS` of every demo date cost the premium price.
const PREMIUM_SEATS: i32 = 10;

#[derive(Debug, Default)]
pub struct SeedReport {
    pub users_created: u32,
    pub concerts_created: u32,
}

pub async fn seed(db: &PgPool) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('booking seed'))")
        .execute(&mut *tx)
        .await?;
    let now = domain::now();
    let hash = crate::passwords::Passwords::new()
        .hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?;
    let starting = ChargeAmount::new(STARTING_BALANCE).map_err(anyhow::Error::msg)?;
    for name in USERS {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM users WHERE name = $1 LIMIT 1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(user_id) = exists {
            // Demo users seeded before passwords existed get the demo password.
            sqlx::query(
                "UPDATE users SET password_hash = $2 WHERE user_id = $1 AND password_hash IS NULL",
            )
            .bind(user_id)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            continue;
        }
        let user = insert_user(&mut tx, name, &hash).await?;
        let user_id = shared::ids::UserId::new(user.user_id).map_err(anyhow::Error::msg)?;
        charge(&mut tx, user_id, starting, now)
            .await?
            .context("a new user's balance takes the starting charge")?;
        report.users_created += 1;
    }

    // 19:00 in Seoul, one to four weeks from today.
    let evening = NaiveTime::from_hms_opt(10, 0, 0).context("a valid time")?;
    let today = Utc::now().date_naive();
    for (title, venue, price, premium) in CONCERTS {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT concert_id FROM concerts WHERE title = $1 LIMIT 1")
                .bind(title)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            continue;
        }
        let schedules = (1..=4)
            .filter_map(|week| today.checked_add_days(Days::new(7 * week)))
            .map(|day| NewSchedule {
                starts_at: day.and_time(evening).and_utc(),
                price,
                seats: 50,
            })
            .collect();
        let concert = NewConcert {
            title: crate::domain::Label::new(title)?,
            venue: crate::domain::Label::new(venue)?,
            schedules,
        };
        let created = insert_concert(&mut tx, &concert).await?;
        sqlx::query(
            "UPDATE seats SET price = $2
             WHERE schedule_id IN (SELECT schedule_id FROM schedules WHERE concert_id = $1)
               AND seat_number <= $3",
        )
        .bind(created.concert_id)
        .bind(premium)
        .bind(PREMIUM_SEATS)
        .execute(&mut *tx)
        .await?;
        report.concerts_created += 1;
    }
    tx.commit().await?;
    Ok(report)
}
