//! The snapshot's rendering: which callers get the shared bytes, and what
//! a read after a hold or lock ended sees.

use super::*;
use serde_json::Value;

fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t0 + TimeDelta::seconds(secs)
}

fn user(id: i64) -> UserId {
    UserId::new(id).unwrap()
}

/// Seat 1 held by user 7 for 10 s; seat 2 sold to user 8; seat 3 locked
/// for 5 s with no hold written; seat 4 free; seat 5's hold by user 9
/// ended 1 s ago and its own lock lives 2 s more.
fn snapshot(t0: DateTime<Utc>) -> Snapshot {
    let live = |user_id, sold, expires_at| {
        Some(Live {
            reservation_id: Uuid::from_u128(user_id as u128),
            user_id,
            sold,
            expires_at,
        })
    };
    let seat = |seat_number, live, lock| SnapshotSeat {
        seat_number,
        price: 50_000,
        live,
        lock,
    };
    let seats = vec![
        seat(1, live(7, false, at(t0, 10)), None),
        seat(2, live(8, true, at(t0, -60)), None),
        seat(
            3,
            None,
            Some(Lock {
                reservation_id: Uuid::from_u128(3),
                until: Some(at(t0, 5)),
            }),
        ),
        seat(4, None, None),
        seat(
            5,
            live(9, false, at(t0, -1)),
            Some(Lock {
                reservation_id: Uuid::from_u128(9),
                until: Some(at(t0, 2)),
            }),
        ),
    ];
    Snapshot::new(ScheduleId::new(1).unwrap(), seats, t0).unwrap()
}

fn statuses(body: &Bytes) -> Vec<(String, bool)> {
    let map: Value = serde_json::from_slice(body).unwrap();
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap().to_owned(),
                s["mine"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn expect(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(s, m)| ((*s).to_owned(), *m)).collect()
}

#[test]
fn a_caller_who_owns_no_seat_gets_the_shared_map_until_a_hold_or_lock_ends() {
    let t0 = Utc::now();
    let snapshot = snapshot(t0);
    let body = snapshot.body(user(100), at(t0, 1)).unwrap();
    assert_eq!(body, snapshot.shared);
    assert_eq!(
        statuses(&body),
        expect(&[
            ("held", false),
            ("sold", false),
            ("held", false),
            ("available", false),
            ("available", false),
        ])
    );
}

#[test]
fn owners_see_their_own_seats_as_mine() {
    let t0 = Utc::now();
    let snapshot = snapshot(t0);
    let seen = |id| statuses(&snapshot.body(user(id), at(t0, 1)).unwrap());
    assert_eq!(seen(7)[0], ("held".to_owned(), true));
    assert_eq!(seen(8)[1], ("sold".to_owned(), true));
    // User 9's hold has ended: not theirs any more, and its own lock
    // does not make it look held.
    assert_eq!(seen(9)[4], ("available".to_owned(), false));
}

#[test]
fn after_a_lock_or_hold_ends_the_map_is_worked_out_for_the_time_of_the_read() {
    let t0 = Utc::now();
    let snapshot = snapshot(t0);
    // The lock of seat 3 has ended.
    let after_lock = snapshot.body(user(100), at(t0, 6)).unwrap();
    assert_ne!(after_lock, snapshot.shared);
    assert_eq!(statuses(&after_lock)[2], ("available".to_owned(), false));
    assert_eq!(statuses(&after_lock)[0], ("held".to_owned(), false));
    // The hold of seat 1 has ended too.
    let after_hold = snapshot.body(user(100), at(t0, 11)).unwrap();
    assert_eq!(statuses(&after_hold)[0], ("available".to_owned(), false));
    // A read that began before seat 5's hold ended sees it held.
    let before = snapshot.body(user(100), at(t0, -2)).unwrap();
    assert_eq!(statuses(&before)[4], ("held".to_owned(), false));
}
