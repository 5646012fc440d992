//! `GET /v1/concerts/{id}/queue` (public numbers) and
//! `PATCH /v1/admin/concerts/{id}/queue` (pause, resume, change the pace).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use redis::Value;
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::{Json, Path};
use shared::ids::ConcertId;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::keys::{self, invocation};
use crate::state::AppState;

/// A queue's public numbers and its operator settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStats {
    concert_id: ConcertId,
    /// Users waiting in line.
    waiting: u64,
    /// Users admitted and not yet gone (at most `max_active`).
    active: u64,
    /// Most users active at once (`QUEUE_MAX_ACTIVE` unless changed).
    #[schema(maximum = 10_000_000)]
    max_active: u32,
    /// Most users admitted per tick (`QUEUE_ADMIT_PER_TICK` unless changed).
    #[schema(maximum = 100_000)]
    admit_per_tick: u32,
    /// The tick, in milliseconds (`QUEUE_TICK_MS`).
    tick_ms: u64,
    /// Admissions are paused (joins still queue).
    paused: bool,
    /// Users admitted over the last minute.
    admitted_last_minute: u64,
    /// The scheduled opening (RFC 3339 UTC); `null` when none was set.
    #[schema(format = DateTime, required = true)]
    opens_at: Option<String>,
    /// Lowercase hex SHA-256 of `draw_seed`; `null` without a schedule.
    #[schema(pattern = "^[0-9a-f]{64}$", required = true)]
    draw_commitment: Option<String>,
    /// The draw's seed (64 lowercase hex), published from the opening on;
    /// `null` before it and without a schedule. The pre-queue is in
    /// ascending order of hex SHA-256 of `draw_seed` followed by the ticket id.
    #[schema(pattern = "^[0-9a-f]{64}$", required = true)]
    draw_seed: Option<String>,
    /// Seats of the concert's upcoming schedules neither held nor sold (at
    /// most 5 s old); `null` if unknown.
    #[schema(required = true)]
    seats_available: Option<u64>,
}

/// New settings; absent fields keep their value. They take effect from the
/// next tick.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdate {
    /// Stop (`true`) or resume (`false`) admissions.
    paused: Option<bool>,
    /// Users admitted per tick, `0..=100000`.
    #[schema(minimum = 0, maximum = 100_000)]
    admit_per_tick: Option<u32>,
    /// Users active at once, `0..=10000000`.
    #[schema(minimum = 0, maximum = 10_000_000)]
    max_active: Option<u32>,
    /// The scheduled opening (RFC 3339), a future time; or `null`: open now
    /// (a waiting pre-queue is drawn at the next tick). Only while the
    /// current `opens_at` is `null` or still in the future.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    opens_at: Option<Option<String>>,
}

/// A field that is present: `Some(value)`, where `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::code(ErrorCode::InvalidRequest, detail)
}

/// The caller presented the admin token (checked before anything else).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        shared::http::check_admin(&parts.headers, state.settings.admin_token.as_ref())?;
        Ok(Admin)
    }
}

#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/queue",
    tag = "queue",
    summary = "A queue's public numbers",
    params(("concert_id" = ConcertId, Path, description = "The concert")),
    security(()),
    responses(
        (status = 200, description = "The queue's numbers and settings", body = QueueStats),
        (status = 404, description = "CONCERT_NOT_FOUND"),
    ),
)]
pub async fn public_stats(
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<Json<QueueStats>> {
    ensure_concert(&state, concert).await?;
    stats(&state, concert).await.map(Json)
}

#[utoipa::path(
    patch,
    path = "/v1/admin/concerts/{concert_id}/queue",
    tag = "admin",
    summary = "Pause or resume a queue, or change its pace (from the next tick)",
    params(("concert_id" = ConcertId, Path, description = "The concert")),
    request_body(content = QueueUpdate, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The queue with its new settings", body = QueueStats),
        (status = 403, description = "FORBIDDEN: no admin token, or none is configured"),
        (status = 404, description = "CONCERT_NOT_FOUND"),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn update(
    _admin: Admin,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
    Json(update): Json<QueueUpdate>,
) -> ApiResult<Json<QueueStats>> {
    if update.admit_per_tick.is_some_and(|n| n > 100_000) {
        return Err(ApiError::code(
            ErrorCode::InvalidRequest,
            "admit_per_tick must be between 0 and 100000",
        ));
    }
    if update.max_active.is_some_and(|n| n > 10_000_000) {
        return Err(ApiError::code(
            ErrorCode::InvalidRequest,
            "max_active must be between 0 and 10000000",
        ));
    }
    let opens_at_ms = match &update.opens_at {
        Some(Some(text)) => {
            let at = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| invalid("opens_at must be an RFC 3339 timestamp or null"))?;
            let ms = at.timestamp_millis();
            if ms <= state.clock.now_ms() {
                return Err(invalid("opens_at must be in the future"));
            }
            Some(Some(ms))
        }
        Some(None) => Some(None),
        None => None,
    };
    ensure_concert(&state, concert).await?;
    // The queue exists in Postgres and Redis; then Postgres, the copy that
    // survives a loss of Redis, takes the new settings before Redis does.
    crate::recovery::restore_queue(&state, concert).await?;
    // The opening first: it is the one change that can be refused.
    let scheduled = match opens_at_ms {
        Some(opens_at) => schedule(&state, concert, opens_at).await?,
        None => None,
    };
    sqlx::query(
        "UPDATE queue_settings SET paused = COALESCE($2, paused),
                admit_per_tick = COALESCE($3, admit_per_tick),
                max_active = COALESCE($4, max_active), updated_at = now()
         WHERE concert_id = $1",
    )
    .bind(concert.get())
    .bind(update.paused)
    .bind(
        update
            .admit_per_tick
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
    )
    .bind(
        update
            .max_active
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
    )
    .execute(&state.db)
    .await?;
    let keys = state.queue_keys(concert);
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some((opens_at, seed, base)) = scheduled {
        fields.push(("opens_at", opens_at.to_string()));
        fields.push(("draw_base", base.to_string()));
        fields.push(("draw_commitment", crate::draw::commitment(&seed)));
        fields.push(("draw_seed", seed));
    }
    if let Some(paused) = update.paused {
        fields.push(("paused", if paused { "1" } else { "0" }.to_owned()));
    }
    if let Some(n) = update.admit_per_tick {
        fields.push(("admit_per_tick", n.to_string()));
    }
    if let Some(n) = update.max_active {
        fields.push(("max_active", n.to_string()));
    }
    if !fields.is_empty() {
        let mut conn = state.redis.clone();
        let _: () = redis::cmd("HSET")
            .arg(keys.config())
            .arg(&fields)
            .query_async(&mut conn)
            .await?;
        tracing::info!(?update, "queue settings changed");
    }
    stats(&state, concert).await.map(Json)
}

/// Set (`Some(ms)`, a future time) or bring forward to now (`None`) the
/// opening in Postgres, in one conditional `UPDATE`: only while no opening
/// has passed (API.md, Gateway: otherwise `400`). The first schedule picks
/// the draw seed and base, which never change after. Returns the schedule
/// now in force (`None`: the queue has none and `null` asked for none).
async fn schedule(
    state: &AppState,
    concert: ConcertId,
    opens_at: Option<i64>,
) -> ApiResult<Option<(i64, String, i64)>> {
    let now = state.clock.now_ms();
    let seed = crate::draw::new_seed().map_err(|e| ApiError::Protocol(e.to_string()))?;
    // Pre-queue numbers start above every number handed out so far (join
    // numbers are at most a little above Unix ms × 1000), so those already
    // waiting keep their place ahead of the pre-queue.
    let base = now.saturating_add(60_000).saturating_mul(1000);
    let updated: Option<(i64, String, i64)> = sqlx::query_as(
        "UPDATE queue_settings SET opens_at_ms = COALESCE($2, $5),
                draw_seed = COALESCE(draw_seed, $3), draw_base = COALESCE(draw_base, $4),
                updated_at = now()
         WHERE concert_id = $1 AND (opens_at_ms IS NULL OR opens_at_ms > $5)
           AND ($2 IS NOT NULL OR opens_at_ms IS NOT NULL)
         RETURNING opens_at_ms, draw_seed, draw_base",
    )
    .bind(concert.get())
    .bind(opens_at)
    .bind(&seed)
    .bind(base)
    .bind(now)
    .fetch_optional(&state.db)
    .await?;
    if updated.is_some() {
        tracing::info!(concert = %concert, ?opens_at, "queue opening scheduled");
        return Ok(updated);
    }
    let current: Option<i64> =
        sqlx::query_scalar("SELECT opens_at_ms FROM queue_settings WHERE concert_id = $1")
            .bind(concert.get())
            .fetch_one(&state.db)
            .await?;
    match (current, opens_at) {
        // `null` on a queue that never had a schedule: it is open already.
        (None, None) => Ok(None),
        _ => Err(invalid(
            "the queue has already opened; opens_at can no longer change",
        )),
    }
}

/// `queue_settings` as read when Redis does not have the queue: paused,
/// admit_per_tick, max_active, opens_at_ms, draw_seed.
type StoredQueue = (bool, Option<i32>, Option<i32>, Option<i64>, Option<String>);

async fn ensure_concert(state: &AppState, concert: ConcertId) -> ApiResult<()> {
    if state.directory.concert_exists(concert.get()).await? {
        Ok(())
    } else {
        Err(ApiError::code(
            ErrorCode::ConcertNotFound,
            format!("concert {concert} does not exist"),
        ))
    }
}

async fn stats(state: &AppState, concert: ConcertId) -> ApiResult<QueueStats> {
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    let reply: Vec<Value> = invocation(&keys::STATS, &keys)
        .arg(state.clock.now_ms())
        .invoke_async(&mut conn)
        .await?;
    let get = |i: usize| {
        reply
            .get(i)
            .ok_or_else(|| ApiError::Protocol("short stats reply".into()))
    };
    let number = |i: usize| -> ApiResult<u64> {
        redis::from_redis_value_ref::<u64>(get(i)?).map_err(|e| ApiError::Protocol(e.to_string()))
    };
    let setting = |i: usize, default: u32| -> ApiResult<u32> {
        let raw: String =
            redis::from_redis_value_ref(get(i)?).map_err(|e| ApiError::Protocol(e.to_string()))?;
        Ok(raw.parse().unwrap_or(default))
    };
    let paused: String =
        redis::from_redis_value_ref(get(2)?).map_err(|e| ApiError::Protocol(e.to_string()))?;
    let mut stats = QueueStats {
        concert_id: concert,
        waiting: number(0)?,
        active: number(1)?,
        paused: paused == "1",
        admit_per_tick: setting(3, state.settings.admit_per_tick)?,
        max_active: setting(4, state.settings.max_active)?,
        tick_ms: u64::try_from(state.settings.tick.as_millis()).unwrap_or(u64::MAX),
        admitted_last_minute: number(5)?,
        opens_at: None,
        draw_commitment: None,
        draw_seed: None,
        seats_available: None,
    };
    let text = |i: usize| -> ApiResult<String> {
        redis::from_redis_value_ref::<String>(get(i)?)
            .map_err(|e| ApiError::Protocol(e.to_string()))
    };
    if let Ok(ms) = text(7)?.parse::<i64>() {
        stats.opens_at = Some(super::rfc3339_ms(ms));
        stats.draw_commitment = Some(text(8)?).filter(|c| !c.is_empty());
        stats.draw_seed = Some(text(9)?).filter(|s| !s.is_empty());
    }
    stats.seats_available = text(10)?.parse().ok();
    if number(6)? == 0 {
        // Redis does not have the queue (yet, or any more): the settings
        // are Postgres's until the queue is rebuilt. A concert without a
        // queue has no settings there either; if Postgres cannot say, the
        // defaults are the best answer.
        let stored: Option<StoredQueue> = sqlx::query_as(
            "SELECT paused, admit_per_tick, max_active, opens_at_ms, draw_seed
             FROM queue_settings WHERE concert_id = $1",
        )
        .bind(concert.get())
        .fetch_optional(&state.db)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "queue settings unreadable in Postgres");
            None
        });
        if let Some((paused, admit_per_tick, max_active, opens_at, seed)) = stored {
            let or = |n: Option<i32>, default: u32| {
                n.and_then(|n| u32::try_from(n).ok()).unwrap_or(default)
            };
            stats.paused = paused;
            stats.admit_per_tick = or(admit_per_tick, state.settings.admit_per_tick);
            stats.max_active = or(max_active, state.settings.max_active);
            if let (Some(opens_at), Some(seed)) = (opens_at, seed) {
                let opened = opens_at <= state.clock.now_ms();
                stats.opens_at = Some(super::rfc3339_ms(opens_at));
                stats.draw_commitment = Some(crate::draw::commitment(&seed));
                stats.draw_seed = opened.then_some(seed);
            }
        }
    }
    Ok(stats)
}
