//! The one shared, pooled hyper client, with an SSRF guard in its resolver.
//!
//! Private, loopback and link-local targets are refused unless allowed by configuration. The
//! check runs on the addresses the connector will actually dial (after DNS), so a public name
//! that resolves to 127.0.0.1 is refused too; IP literals, which skip the resolver, are
//! checked by [`is_blocked`] before the request is built.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The delivery client type.
pub type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Resolution refused or failed; kept typed so the attempt can say which.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("address {0} is private, loopback or link-local, and such targets are not allowed")]
    Blocked(IpAddr),
    #[error("could not resolve host: {0}")]
    Dns(std::io::Error),
}

/// Whether delivering to `ip` is refused: anything that is not a public unicast address.
///
/// IPv4: private, loopback, link-local, CGNAT (100.64/10), "this network" (0/8), IETF
/// protocol assignments (192.0.0/24), benchmarking (198.18/15), documentation, multicast and
/// the reserved 240/4 (broadcast included). IPv6: loopback, unspecified, unique-local,
/// link-local, site-local, multicast, documentation, discard-only, and every prefix that
/// embeds or tunnels to an IPv4 address — IPv4-mapped and IPv4-compatible (checked as the
/// IPv4 they carry), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo
/// (2001::/32): a translator or relay could reach a private IPv4 through them.
pub fn is_blocked(ip: IpAddr, allow_private: bool) -> bool {
    if allow_private {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
                || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
                || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
                || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
                || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
                || a >= 240 // reserved 240/4
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_blocked(IpAddr::V4(v4), false);
            }
            let s = v6.segments();
            // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
            if s[..6] == [0; 6] {
                return true;
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local fec0::/10
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) // NAT64 64:ff9b::/96
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local NAT64 64:ff9b:1::/48
                || s[0] == 0x2002 // 6to4 2002::/16
                || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation 2001:db8::/32
                || (s[0] == 0x100 && s[1..4] == [0; 3]) // discard-only 100::/64
        }
    }
}

/// DNS resolution through the system resolver, bounded in time, refusing blocked addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Whether private targets are allowed (tests, local development).
    allow_private: bool,
    /// Longest a resolution may take.
    timeout: Duration,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let GuardedResolver {
            allow_private,
            timeout,
        } = *self;
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((name.as_str(), 0));
            let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, lookup)
                .await
                .map_err(|_| {
                    ResolveError::Dns(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "DNS resolution timed out",
                    ))
                })?
                .map_err(ResolveError::Dns)?
                .collect();
            if let Some(bad) = addrs.iter().find(|a| is_blocked(a.ip(), allow_private)) {
                return Err(ResolveError::Blocked(bad.ip()));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// Builds the shared client: keep-alive pool, connect and DNS timeouts, http and https.
/// `max_idle_per_host` should be the node's cap on requests in flight: several endpoints
/// often share a host (a platform's customers on one SaaS), and a pool smaller than what is
/// in flight closes connections at every dip of a burst only to open them again (measured: a
/// third of the deliveries of a drain to one host paid a new TCP connection with 256).
pub fn build(
    connect_timeout: Duration,
    dns_timeout: Duration,
    allow_private: bool,
    max_idle_per_host: usize,
) -> HttpClient {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver {
        allow_private,
        timeout: dns_timeout,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle_per_host)
        .build(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_every_non_public_range() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "100::1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_blocked(parsed, false), "{ip} must be blocked");
            assert!(
                !is_blocked(parsed, true),
                "{ip} allowed when private IPs are"
            );
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "198.20.0.1",
            "192.0.1.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_blocked(ip.parse().unwrap(), false), "{ip} is public");
        }
    }
}
