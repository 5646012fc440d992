//! What over-long and malformed request heads get (API.md, Errors): the
//! application answers problem+json wherever the HTTP server (hyper) lets it;
//! the few cases hyper answers itself, with a bare status and no body, are
//! pinned here and listed in the README ("What the HTTP server answers
//! itself"), so an upgrade that changes them is noticed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

/// Send `head` (request line and headers, without the final blank line) and
/// return the status and the body of the answer.
async fn raw(address: &str, head: &[u8]) -> (u16, String, String) {
    let authority = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nhost: test\r\nconnection: close\r\n\r\n");
    // The server may answer and close before reading everything.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

fn is_problem(answer: &(u16, String, String), status: u16) -> bool {
    answer.0 == status && answer.1 == "application/problem+json" && answer.2.contains("\"code\"")
}

#[tokio::test]
async fn the_application_answers_long_paths_and_odd_header_bytes_with_problems() {
    let app = spawn_app().await;
    let addr = &app.address;
    // A 60 KiB path: hyper passes it on; no route matches.
    let long = format!("GET /{} HTTP/1.1", "a".repeat(60 * 1024));
    let answer = raw(addr, long.as_bytes()).await;
    assert!(is_problem(&answer, 404), "{answer:?}");
    // A 60 KiB path parameter of a real route.
    let long = format!("GET /v1/concerts/{}/queue HTTP/1.1", "9".repeat(60 * 1024));
    let answer = raw(addr, long.as_bytes()).await;
    assert!(is_problem(&answer, 400), "{answer:?}");
    // A 200 KiB bearer token (within hyper's buffer).
    let head = format!(
        "GET /v1/concerts/1/queue/status HTTP/1.1\r\nauthorization: Bearer {}",
        "x".repeat(200 * 1024)
    );
    let answer = raw(addr, head.as_bytes()).await;
    assert!(is_problem(&answer, 401), "{answer:?}");
    // obs-text (bytes 0x80–0xFF) in a header value is legal HTTP/1.1.
    let answer = raw(
        addr,
        b"GET /v1/concerts/1/queue/status HTTP/1.1\r\nauthorization: Bearer \xe9\xff",
    )
    .await;
    assert!(is_problem(&answer, 401), "{answer:?}");
    // A tab inside a header value is legal too.
    let answer = raw(
        addr,
        b"GET /v1/concerts/1/queue/status HTTP/1.1\r\nauthorization: Bearer a\tb",
    )
    .await;
    assert!(is_problem(&answer, 401), "{answer:?}");
}

#[tokio::test]
async fn hyper_answers_these_itself_with_a_bare_status() {
    let app = spawn_app().await;
    let addr = &app.address;
    let bare = |answer: &(u16, String, String), status: u16| {
        answer.0 == status && answer.1.is_empty() && answer.2.is_empty()
    };
    // A path of 64 KiB or more (hyper's URI length limit).
    let long = format!("GET /{} HTTP/1.1", "a".repeat(64 * 1024));
    let answer = raw(addr, long.as_bytes()).await;
    assert!(bare(&answer, 414), "{answer:?}");
    // A header section over hyper's read buffer (~400 KiB).
    let head = format!("GET / HTTP/1.1\r\nx-big: {}", "x".repeat(1024 * 1024));
    let answer = raw(addr, head.as_bytes()).await;
    assert!(bare(&answer, 431), "{answer:?}");
    // More than 100 header fields.
    let mut head = String::from("GET / HTTP/1.1");
    for i in 0..120 {
        head.push_str(&format!("\r\nx-h{i}: v"));
    }
    let answer = raw(addr, head.as_bytes()).await;
    assert!(bare(&answer, 431), "{answer:?}");
    // A control byte (other than tab) in a header value, or a NUL.
    for byte in [0x00u8, 0x01, 0x1f, 0x7f] {
        let mut head = b"GET / HTTP/1.1\r\nidempotency-key: a".to_vec();
        head.extend_from_slice(&[byte, b'b']);
        let answer = raw(addr, &head).await;
        assert!(bare(&answer, 400), "byte {byte:#04x}: {answer:?}");
    }
}
