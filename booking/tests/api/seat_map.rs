//! The seat map's `mine` flag and its Redis-lock overlay (API.md, Booking:
//! `GET /v1/schedules/{schedule_id}/seats`).

use redis::AsyncCommands;
use serde_json::Value;

use crate::helpers::spawn_app;

fn seat(map: &Value, number: usize) -> (&str, bool) {
    let seat = &map["seats"][number - 1];
    assert_eq!(seat["seat_number"], number);
    (
        seat["status"].as_str().unwrap(),
        seat["mine"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn mine_is_true_only_for_the_callers_live_holds_and_purchases() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(users[0], 100_000).await;
    let first = app.admit(users[0], concert).await;
    let second = app.admit(users[1], concert).await;
    app.hold_ok(&first.token, schedule, 1).await;
    let bought = app.hold_ok(&first.token, schedule, 2).await;
    let lapsed = app.hold_ok(&first.token, schedule, 4).await;
    app.hold_ok(&second.token, schedule, 3).await;
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second'
         WHERE reservation_id = $1::uuid",
    )
    .bind(&lapsed)
    .execute(&app.db)
    .await
    .unwrap();
    // Seat 4's lock would otherwise outlive the hold moved into the past.
    let mut redis = app.redis.clone();
    let _: () = redis.del(app.seat_lock_key(schedule, 4)).await.unwrap();
    assert_eq!(
        app.pay(&app.session(users[0]), &bought, None)
            .await
            .status(),
        reqwest::StatusCode::CREATED
    );

    let again = app.admit(users[0], concert).await;
    let own = app.seat_map(&again.token, schedule).await;
    assert_eq!(seat(&own, 1), ("held", true));
    assert_eq!(seat(&own, 2), ("sold", true));
    assert_eq!(seat(&own, 3), ("held", false));
    assert_eq!(
        seat(&own, 4),
        ("available", false),
        "an expired hold is nobody's"
    );
    assert_eq!(seat(&own, 5), ("available", false));
    let other = app.seat_map(&second.token, schedule).await;
    assert_eq!(seat(&other, 1), ("held", false));
    assert_eq!(seat(&other, 2), ("sold", false));
    assert_eq!(seat(&other, 3), ("held", true));
    assert_eq!(seat(&other, 4), ("available", false));
}

#[tokio::test]
async fn a_seat_whose_lock_is_won_but_not_yet_written_shows_held() {
    let app = spawn_app().await;
    let user = app.create_user("Looker").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let access = app.admit(user, concert).await;
    // A hold that has won seat 9 in Redis and not yet written Postgres.
    let lock = app.seat_lock_key(schedule, 9);
    let mut redis = app.redis.clone();
    let _: () = redis
        .set_ex(&lock, uuid::Uuid::new_v4().to_string(), 60)
        .await
        .unwrap();

    let map = app.seat_map(&access.token, schedule).await;
    assert_eq!(seat(&map, 9), ("held", false));
    assert_eq!(seat(&map, 8), ("available", false));
    assert_eq!(seat(&map, 10), ("available", false));

    let _: () = redis.del(&lock).await.unwrap();
    let map = app.seat_map(&access.token, schedule).await;
    assert_eq!(seat(&map, 9), ("available", false));
}
