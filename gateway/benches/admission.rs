//! The admission script under a deep queue: one tick admitting 1,000 users
//! from the head of a 1,000,000-user queue (real Redis, `TEST_REDIS_URL` or
//! 127.0.0.1:6379, under a random key prefix that is removed afterwards).
//!
//! Run: `cargo bench -p gateway --bench admission`. Under `cargo test` the
//! queue holds 10,000 users so the check stays quick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::state::AppState;
use gateway::tokens::TokenService;
use gateway::{Clock, ManualClock, Settings, ticker};
use shared::ids::ConcertId;
use shared::tokens::Signer;

const ADMIT: u32 = 1_000;

fn settings(prefix: &str) -> Settings {
    Settings {
        addr: "127.0.0.1:0".into(),
        database_url: "postgres://postgres@127.0.0.1:5432/unused".into(),
        redis_url: std::env::var("TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        redis_topology: shared::infra::RedisTopology::Server,
        redis_timeout: shared::infra::REDIS_TIMEOUT,
        key_prefix: prefix.to_owned(),
        admin_token: None,
        tick: Duration::from_millis(1000),
        admit_per_tick: ADMIT,
        max_active: 10_000_000,
        active_ttl: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(86_400),
        data_dir: std::env::temp_dir(),
        jwt_private_key_file: None,
        jwt_previous_key_files: Vec::new(),
        run_ticker: false,
        db_pool_size: 1,
        booking_public_url: "http://127.0.0.1:8081".into(),
        identity_jwks_url: "http://127.0.0.1:8081/.well-known/jwks.json".into(),
        identity: shared::tokens::IdentityPolicy::default(),
        limits: shared::limits::RateLimitSettings::default(),
        serve: shared::serve::ServeSettings::default(),
    }
}

/// Append `count` waiting users after sequence number `from`.
async fn fill(state: &AppState, concert: ConcertId, from: u64, count: u64) {
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    let now = state.clock.now_ms();
    for chunk_start in (from..from + count).step_by(10_000) {
        let mut pipe = redis::pipe();
        for seq in chunk_start..(chunk_start + 10_000).min(from + count) {
            let ticket = format!("bench-{seq}");
            pipe.zadd(keys.waiting(), &ticket, seq).ignore();
            pipe.zadd(&keys.all()[3], &ticket, now).ignore();
        }
        let () = pipe.query_async(&mut conn).await.expect("fill the queue");
    }
    // The queue counts as built (its epoch exists), so ticks do not try to
    // rebuild it from Postgres.
    let _: () = redis::cmd("SET")
        .arg(&keys.all()[10])
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg(gateway::keys::concerts_key(&state.settings.key_prefix))
        .arg(concert.get())
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn admission(c: &mut Criterion) {
    let deep = std::env::args().any(|a| a == "--bench");
    let queue: u64 = if deep { 1_000_000 } else { 10_000 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prefix = format!("bench:{}", uuid::Uuid::new_v4().simple());
    let clock = Arc::new(ManualClock::starting_now());
    let state = rt.block_on(async {
        let settings = settings(&prefix);
        let redis = shared::infra::connect_redis(
            &settings.redis_url,
            &settings.redis_topology,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let db = shared::infra::postgres_pool(&settings.database_url, 1).unwrap();
        let state = AppState::new(
            Arc::new(settings),
            redis,
            db,
            TokenService::new(Signer::generate(), vec![]),
            clock.clone(),
        );
        fill(&state, ConcertId::new(1).unwrap(), 1, queue).await;
        state
    });
    let concert = ConcertId::new(1).unwrap();
    let mut next_seq = queue + 1;

    c.bench_function(
        &format!("tick admitting {ADMIT} from a {queue}-user queue"),
        |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let state = state.clone();
                let clock = clock.clone();
                let start_seq = next_seq;
                next_seq += iters * u64::from(ADMIT);
                async move {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        clock.advance_ms(1000);
                        let started = Instant::now();
                        let outcome = ticker::tick_concert(&state, concert, clock.now_ms())
                            .await
                            .unwrap();
                        total += started.elapsed();
                        assert_eq!(outcome.admitted, u64::from(ADMIT));
                        // Keep the queue at its depth and the active set small, outside the timing.
                        fill(
                            &state,
                            concert,
                            start_seq + i * u64::from(ADMIT),
                            u64::from(ADMIT),
                        )
                        .await;
                        let mut conn = state.redis.clone();
                        let _: () = redis::cmd("DEL")
                            .arg(state.queue_keys(concert).active())
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                    }
                    total
                }
            });
        },
    );

    rt.block_on(async {
        let mut conn = state.redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = admission
}
criterion_main!(benches);
