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

/// Whether delivering to `ip` is refused.
pub fn is_blocked(ip: IpAddr, allow_private: bool) -> bool {
    if allow_private {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) // CGNAT 100.64/10
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_blocked(IpAddr::V4(v4), false);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// DNS resolution through the system resolver, refusing blocked addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Whether private targets are allowed (tests, local development).
    allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(ResolveError::Dns)?
                .collect();
            if let Some(bad) = addrs.iter().find(|a| is_blocked(a.ip(), allow_private)) {
                return Err(ResolveError::Blocked(bad.ip()));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// Builds the shared client: keep-alive pool, connect timeout, http and https.
pub fn build(connect_timeout: Duration, allow_private: bool) -> HttpClient {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
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
        // Several endpoints often share a host (a platform's customers on one SaaS); each
        // endpoint may hold endpoint.max_in_flight connections, so keep plenty warm.
        .pool_max_idle_per_host(256)
        .build(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_blocked(ip.parse().unwrap(), false), "{ip}");
            assert!(!is_blocked(ip.parse().unwrap(), true), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_blocked(ip.parse().unwrap(), false), "{ip}");
        }
    }
}
