//! Admin endpoints: creating users and concerts (with their schedules and
//! seats). The admin token is checked before anything else ([`Admin`]).
//! Creating a concert replaces the concerts' version in Redis
//! (`shared::infra::concerts_version_key`), so no gateway keeps calling it
//! unknown after the creation answered.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::Json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::admin::Admin;
use crate::domain::{Label, NewPassword, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(create_concert))
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    /// 1 to 200 characters, not only whitespace, no control characters.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x1F\x7F]*$"
    )]
    name: Label,
    /// 8..=128 characters without control characters; stored only as an
    /// Argon2id hash.
    #[schema(value_type = String, min_length = 8, max_length = 128, pattern = r"^[^\x00-\x1F\x7F]*$")]
    password: NewPassword,
}

/// A created user.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct User {
    #[schema(minimum = 1)]
    pub user_id: i64,
    pub name: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    summary = "Create a user (admin)",
    request_body(content = NewUser, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created, with a balance of 0", body = User),
        (status = 403, description = "FORBIDDEN: no admin token, or none is configured"),
    ),
)]
async fn create_user(
    _admin: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let name = not_blank("name", &body.name)?;
    let hash = state.passwords.hash(body.password.into_string()).await?;
    let mut conn = state.db.acquire().await?;
    Ok((
        StatusCode::CREATED,
        Json(insert_user(&mut conn, name, &hash).await?),
    ))
}

/// Insert a user with the Argon2id hash of their password (its balance row
/// is created with it, at 0).
pub async fn insert_user(
    conn: &mut PgConnection,
    name: &str,
    password_hash: &str,
) -> Result<User, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO users (name, password_hash) VALUES ($1, $2) RETURNING user_id, name",
    )
    .bind(name)
    .bind(password_hash)
    .fetch_one(conn)
    .await
}

/// A concert to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConcert {
    /// 1 to 200 characters, not only whitespace, no control characters.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x1F\x7F]*$"
    )]
    pub title: Label,
    /// 1 to 200 characters, not only whitespace, no control characters.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F]*[^\s\x00-\x1F\x7F][^\x00-\x1F\x7F]*$"
    )]
    pub venue: Label,
    /// At most 366 dates.
    #[schema(max_items = 366)]
    pub schedules: Vec<NewSchedule>,
}

/// One date of a concert to create, with its seats.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// RFC 3339.
    #[serde(deserialize_with = "crate::domain::rfc3339_in")]
    pub starts_at: DateTime<Utc>,
    /// Price of every seat, in KRW (`0..=10,000,000`).
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub price: i64,
    /// Number of seats (`1..=1000`), 50 when absent.
    #[serde(default = "default_seats")]
    #[schema(minimum = 1, maximum = 1000, default = 50)]
    pub seats: i32,
}

fn default_seats() -> i32 {
    50
}

/// A created concert and the ids of its schedules.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConcert {
    #[schema(minimum = 1)]
    pub concert_id: i64,
    pub schedules: Vec<CreatedSchedule>,
}

/// A created schedule.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct CreatedSchedule {
    #[schema(minimum = 1)]
    pub schedule_id: i64,
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub starts_at: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/concerts",
    tag = "admin",
    summary = "Create a concert with its schedules and seats (admin)",
    request_body(content = NewConcert, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedConcert),
        (status = 403, description = "FORBIDDEN: no admin token, or none is configured"),
    ),
)]
async fn create_concert(
    _admin: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewConcert>,
) -> Result<(StatusCode, Json<CreatedConcert>), ApiError> {
    not_blank("title", &body.title)?;
    not_blank("venue", &body.venue)?;
    if body.schedules.len() > 366 {
        return Err(invalid("at most 366 schedules per concert"));
    }
    for s in &body.schedules {
        if !(0..=10_000_000).contains(&s.price) {
            return Err(invalid("price must be between 0 and 10000000"));
        }
        if !(1..=crate::domain::MAX_SEATS_PER_SCHEDULE).contains(&s.seats) {
            return Err(invalid("seats must be between 1 and 1000"));
        }
    }
    let mut tx = state.db.begin().await?;
    let created = insert_concert(&mut tx, &body).await?;
    tx.commit().await?;
    // Gateways may remember this id as unknown; the new version tells them
    // not to believe that any more, before the creation answers (API.md,
    // Errors: a concert is usable the moment its creation answered).
    let prefix = state.redis.prefix().to_owned();
    if let Err(e) = shared::infra::concerts_changed(&mut state.redis.connection(), &prefix).await {
        // The concert exists; gateways find it within their 2 s of doubt.
        tracing::warn!(error = %e, concert = created.concert_id, "could not mark the concerts as changed");
    }
    Ok((StatusCode::CREATED, Json(created)))
}

/// Insert a concert, its schedules and their seats (inside the caller's
/// transaction). Values must have been validated.
pub async fn insert_concert(
    tx: &mut PgConnection,
    concert: &NewConcert,
) -> Result<CreatedConcert, sqlx::Error> {
    let concert_id: i64 = sqlx::query_scalar(
        "INSERT INTO concerts (title, venue) VALUES ($1, $2) RETURNING concert_id",
    )
    .bind(concert.title.as_str())
    .bind(concert.venue.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let mut schedules = Vec::with_capacity(concert.schedules.len());
    for s in &concert.schedules {
        let created: CreatedSchedule = sqlx::query_as(
            "INSERT INTO schedules (concert_id, starts_at, price, total_seats)
             VALUES ($1, $2, $3, $4) RETURNING schedule_id, starts_at",
        )
        .bind(concert_id)
        .bind(s.starts_at)
        .bind(s.price)
        .bind(s.seats)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO seats (schedule_id, seat_number, price)
             SELECT $1, n, $2 FROM generate_series(1, $3) AS n",
        )
        .bind(created.schedule_id)
        .bind(s.price)
        .bind(s.seats)
        .execute(&mut *tx)
        .await?;
        schedules.push(created);
    }
    Ok(CreatedConcert {
        concert_id,
        schedules,
    })
}

/// A [`Label`] that is more than whitespace.
fn not_blank<'a>(field: &str, value: &'a Label) -> Result<&'a str, ApiError> {
    if value.trim().is_empty() {
        return Err(invalid(&format!("field `{field}` must not be blank")));
    }
    Ok(value.as_str())
}

fn invalid(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, detail)
}
