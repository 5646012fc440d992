//! Slow and idle clients cannot hold the service, load is shed at capacity,
//! and SIGTERM drains for a bounded time (API.md, Limits).

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use shared::serve::ServeSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Options, TestApp, assert_problem, spawn_app_with};

fn serving(serve: ServeSettings) -> Options {
    Options {
        serve,
        ..Options::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    let authority = app.address.trim_start_matches("http://");
    TcpStream::connect(authority).await.expect("connect")
}

/// A login whose body announces 100 bytes and sends one.
async fn slow_body(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    stream
        .write_all(
            b"POST /v1/sessions HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{",
        )
        .await
        .expect("write the head");
    stream
}

/// Whether the server closes `stream` (end of file or reset) before `deadline`.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn forty_slow_bodies_do_not_stop_the_concert_list() {
    // As few slots as the slow clients of the report took, fewer than the clients.
    let app = spawn_app_with(serving(ServeSettings {
        max_concurrent_requests: 24,
        ..ServeSettings::default()
    }))
    .await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(slow_body(&app).await);
    }
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        let listed = quick
            .get(app.url("/v1/concerts"))
            .send()
            .await
            .expect("GET /v1/concerts answers within 2 s");
        assert_eq!(listed.status(), StatusCode::OK);
        // The slow clients are still sending.
        for stream in &mut slow {
            stream.write_all(b" ").await.expect("still connected");
        }
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let app = spawn_app_with(serving(ServeSettings {
        body_read_timeout: Duration::from_secs(1),
        ..ServeSettings::default()
    }))
    .await;
    let mut stream = slow_body(&app).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("\"REQUEST_TIMEOUT\""), "{text}");
}

#[tokio::test]
async fn idle_connections_are_closed_by_the_server() {
    let app = spawn_app_with(serving(ServeSettings {
        keep_alive_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(1),
        ..ServeSettings::default()
    }))
    .await;
    // A connection that never sends anything.
    let mut silent = connect(&app).await;
    assert!(closed_within(&mut silent, Duration::from_secs(20)).await);
    // A keep-alive connection after one answered request.
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(20)).await);
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_off_long_before_the_idle_timeout() {
    let app = spawn_app_with(serving(ServeSettings {
        header_read_timeout: Duration::from_secs(1),
        keep_alive_timeout: Duration::from_secs(600),
        ..ServeSettings::default()
    }))
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /v1/concerts HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(20)).await);
}

#[tokio::test]
async fn at_capacity_requests_are_shed_at_once_and_readyz_says_so() {
    let app = spawn_app_with(serving(ServeSettings {
        max_concurrent_requests: 1,
        max_queued_requests: 0,
        ..ServeSettings::default()
    }))
    .await;
    let user = app.create_user("Crowd").await;
    // Logins take an Argon2id verification each: 20 at once cannot all fit in one slot.
    let logins = (0..20).map(|_| app.login(user, crate::helpers::PASSWORD));
    let answers = join_all(logins).await;
    let mut shed = None;
    for answer in answers {
        match answer.status() {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => shed = Some(answer),
            other => panic!("unexpected {other}"),
        }
    }
    let shed = shed.expect("some logins were shed");
    assert!(shed.headers().contains_key("retry-after"));
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(shed, 503, "UNAVAILABLE").await;
    // Probes never take a slot: liveness answers whatever the load.
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
}

#[tokio::test]
async fn sigterm_with_a_slow_client_connected_exits_0_within_25_s() {
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let (database_url, _db) = shared::testing::fresh_database(&migrations).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let data_dir = std::env::temp_dir().join(format!("booking-sigterm-{}", uuid::Uuid::new_v4()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_booking"))
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", shared::testing::redis_url())
        .env("REDIS_KEY_PREFIX", shared::testing::random_prefix())
        .env("BOOKING_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", &data_dir)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the booking binary starts");
    let client = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !client
        .get(&readyz)
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A client in the middle of a body it will never finish (the body
    // timeout, 30 s, is longer than the drain).
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(
        b"POST /v1/sessions HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();

    let pid =
        nix::unistd::Pid::from_raw(i32::try_from(child.id().expect("a running child")).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    let exit = tokio::time::timeout(Duration::from_secs(25), child.wait())
        .await
        .expect("the binary exits within 25 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    drop(slow);
    let _ = std::fs::remove_dir_all(data_dir);
}
