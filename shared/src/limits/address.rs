//! The budget of one client address (API.md, Limits): `RATE_LIMIT_IP_PER_SEC`
//! requests per second, bursts up to twice that, for requests that carry no
//! token that verifies (logins, public reads, anything with a missing or bad
//! token). A request whose token verifies is budgeted by its user instead,
//! so many fans behind one address (a carrier's NAT) do not limit each other.
//!
//! A request without an `Authorization` header is charged before it runs.
//! One with a header runs first (its token is checked by the route's own
//! authentication, which calls [`super::note_verified`]); if its token did
//! not verify, it is charged afterwards, and over budget its answer is
//! replaced by `429` (unless it was a completed write, which must not be
//! reported as refused) — so a bad token buys no fresh budget.
//!
//! The client address is the TCP peer, or when the peer is one of
//! `TRUSTED_PROXIES`, the nearest address of `X-Forwarded-For` that is not a
//! trusted proxy, read from the right ([`client_address`]). IPv6 clients are
//! budgeted by their /64, the block one subscriber is usually given.

use std::cell::Cell;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use governor::Quota;
use ipnet::IpNet;

use super::bounded::{BoundedLimiter, Overflow};
use super::{RateLimitSettings, VERIFIED, rate_limited};
use crate::problem::Problem;

/// Addresses whose state is kept at once (about 4 MB); past it, new
/// addresses share one budget until swept states make room.
pub const MAX_ADDRESSES: usize = 100_000;

/// Paths no limit applies to: probes and metrics must answer under any load.
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The per-address limiter and the proxies whose `X-Forwarded-For` it believes.
pub struct AddressLimiter {
    limiter: Option<BoundedLimiter<IpAddr>>,
    trusted: Vec<IpNet>,
}

impl AddressLimiter {
    /// From the settings; `RATE_LIMIT_IP_PER_SEC=0` turns the limit off.
    pub fn new(settings: &RateLimitSettings) -> Self {
        let limiter = NonZeroU32::new(settings.ip_per_sec).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
            BoundedLimiter::new(
                Quota::per_second(rate).allow_burst(burst),
                MAX_ADDRESSES,
                Overflow::Share(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            )
        });
        Self {
            limiter,
            trusted: settings.trusted_proxies.clone(),
        }
    }

    fn check(&self, client: IpAddr) -> Result<(), Problem> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter.check(&client).map_err(|wait| {
                rate_limited(
                    "address",
                    wait,
                    "too many requests from this address; retry after the given seconds",
                )
            }),
        }
    }
}

/// Part of [`crate::http::with_standard_layers`]: the
/// per-address budget, as the module documentation describes. Requests
/// without a known peer (not served over TCP) and probes pass.
pub(crate) async fn layer(
    limits: &AddressLimiter,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if limits.limiter.is_none() || is_probe(request.uri().path()) {
        return next(request).await;
    }
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return next(request).await;
    };
    let client = client_address(peer.ip(), request.headers(), &limits.trusted);
    if !request.headers().contains_key(header::AUTHORIZATION) {
        if let Err(refused) = limits.check(client) {
            return refused.into_response();
        }
        return next(request).await;
    }
    let safe = request.method().is_safe();
    let (verified, response) = VERIFIED
        .scope(Cell::new(false), async {
            let response = next(request).await;
            (VERIFIED.with(Cell::get), response)
        })
        .await;
    if verified {
        return response;
    }
    let completed_write = !safe && response.status().is_success();
    match limits.check(client) {
        Err(refused) if !completed_write => refused.into_response(),
        _ => response,
    }
}

/// The address a request is budgeted by: the peer, or when the peer is a
/// trusted proxy, the right-most address of `X-Forwarded-For` that is not
/// itself a trusted proxy (the client as the first trusted proxy saw it;
/// entries left of it were written by the client and prove nothing). A
/// malformed entry stops the walk at the last trusted hop. IPv4-mapped IPv6
/// addresses count as IPv4, and IPv6 addresses by their /64.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(&client) {
        return budget_key(client);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    budget_key(client)
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// IPv6 addresses are budgeted by their /64.
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = super::super::parse_cidrs("10.0.0.0/8").unwrap();
        let got = client_address(ip("198.51.100.9"), &xff("203.0.113.1"), &trusted);
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = super::super::parse_cidrs("10.0.0.0/8, 192.0.2.1").unwrap();
        // The client forged the first entry; the proxy appended the real one.
        let headers = xff("1.2.3.4, 203.0.113.7, 10.1.1.1");
        assert_eq!(
            client_address(ip("192.0.2.1"), &headers, &trusted),
            ip("203.0.113.7")
        );
        // No header: the proxy itself.
        let none = HeaderMap::new();
        assert_eq!(
            client_address(ip("10.0.0.5"), &none, &trusted),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the last trusted hop.
        let bad = xff("nonsense, 10.2.2.2");
        assert_eq!(
            client_address(ip("10.0.0.5"), &bad, &trusted),
            ip("10.2.2.2")
        );
        // Ports and brackets are understood.
        let ported = xff("[2001:db8::1]:4711");
        assert_eq!(
            client_address(ip("10.0.0.5"), &ported, &trusted),
            ip("2001:db8::")
        );
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a = client_address(ip("2001:db8:1:2:aaaa::1"), &HeaderMap::new(), &[]);
        let b = client_address(ip("2001:db8:1:2:bbbb::2"), &HeaderMap::new(), &[]);
        assert_eq!(a, b);
        let mapped = client_address(ip("::ffff:198.51.100.9"), &HeaderMap::new(), &[]);
        assert_eq!(mapped, ip("198.51.100.9"));
    }
}
