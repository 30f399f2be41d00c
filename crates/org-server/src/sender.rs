//! The outbound HTTP client of webhook deliveries and SIEM batches (§9.3, §9.7, §17): resolves
//! once with the system resolver (or `outbound.dns_overrides`), checks every address with the
//! SSRF guard, connects only to a checked address, 15 s timeout, no redirects, no proxies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use org_app::outbound::{Guard, Target, UrlError};
use org_ports::{DocumentFetcher, OutboundRequest, Resolver, SendResult, VerificationFetcher, WebhookSender};

/// The system resolver, with a static override table.
#[derive(Clone, Debug, Default)]
pub struct SystemResolver {
    pub overrides: HashMap<String, Vec<IpAddr>>,
}

#[async_trait::async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Vec<IpAddr> {
        if let Some(list) = self.overrides.get(&host.to_ascii_lowercase()) {
            return list.clone();
        }
        match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Sends webhook attempts over HTTP(S).
pub struct HttpSender {
    guard: Guard,
    resolver: Arc<dyn Resolver>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSender")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// Installs the process-wide TLS provider (ring); idempotent.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpSender {
    /// A sender with the guard and resolver of the outbound settings.
    pub fn new(guard: Guard, resolver: Arc<dyn Resolver>) -> Self {
        install_tls();
        Self {
            guard,
            resolver,
            timeout: Duration::from_secs(15),
        }
    }

    async fn checked_addrs(&self, url: &str) -> Result<(Option<String>, Vec<SocketAddr>), &'static str> {
        match self.guard.check_url(url) {
            Ok(Target::Ip(ip, port)) => Ok((None, vec![SocketAddr::new(ip, port)])),
            Ok(Target::Name(host, port)) => {
                let ips = self.resolver.resolve(&host, port).await;
                if ips.is_empty() {
                    return Err("dns_error");
                }
                if ips.iter().any(|ip| !self.guard.ip_allowed(*ip)) {
                    return Err("ssrf_denied");
                }
                Ok((
                    Some(host),
                    ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect(),
                ))
            }
            Err(UrlError::Invalid(_)) => Err("invalid_url"),
            Err(UrlError::Denied(_) | UrlError::DeniedName) => Err("ssrf_denied"),
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<chrono::Duration> {
    let secs: i64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs > 0).then(|| chrono::Duration::seconds(secs))
}

impl HttpSender {
    /// A client bound to the checked addresses of `url`: no proxies, no redirects, the timeout.
    async fn client_for(&self, url: &str) -> Result<reqwest::Client, SendResult> {
        let (host, addrs) = self
            .checked_addrs(url)
            .await
            .map_err(|class| SendResult::Error(class.to_owned()))?;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout);
        if let Some(host) = &host {
            builder = builder.resolve_to_addrs(host, &addrs);
        }
        builder
            .build()
            .map_err(|_| SendResult::Error("client_error".to_owned()))
    }
}

fn request_error(e: &reqwest::Error) -> SendResult {
    if e.is_timeout() {
        SendResult::Error("timeout".to_owned())
    } else if e.is_connect() {
        SendResult::Error("connect_error".to_owned())
    } else {
        SendResult::Error("request_error".to_owned())
    }
}

#[async_trait::async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        let client = match self.client_for(&request.url).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut req = client.post(&request.url).body(request.body);
        for (k, v) in &request.headers {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = retry_after(resp.headers());
                let body = resp.text().await.unwrap_or_default();
                SendResult::Response {
                    status,
                    body,
                    retry_after,
                }
            }
            Err(e) => request_error(&e),
        }
    }
}

/// The HTTP method of domain verification (§14): `GET` through the same SSRF guard and
/// resolver as webhooks, always `http` whatever `outbound.allow_http`, no redirects, 5 s.
pub struct HttpFetcher(HttpSender);

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HttpFetcher").field(&self.0).finish()
    }
}

impl HttpFetcher {
    pub fn new(guard: Guard, resolver: Arc<dyn Resolver>) -> Self {
        install_tls();
        let guard = Guard {
            allow_http: true,
            ..guard
        };
        Self(HttpSender {
            guard,
            resolver,
            timeout: Duration::from_secs(5),
        })
    }
}

#[async_trait::async_trait]
impl VerificationFetcher for HttpFetcher {
    async fn fetch(&self, url: &str, max_bytes: usize) -> SendResult {
        if !url.starts_with("http://") {
            return SendResult::Error("invalid_url".to_owned());
        }
        let client = match self.0.client_for(url).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut resp = match client.get(url).send().await {
            Ok(r) => r,
            Err(e) => return request_error(&e),
        };
        let status = resp.status().as_u16();
        let mut body: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > max_bytes {
                        return SendResult::Error("too_large".to_owned());
                    }
                }
                Ok(None) => break,
                Err(e) => return request_error(&e),
            }
        }
        SendResult::Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after: None,
        }
    }
}

/// Fetches the documents of upstream providers (§11): `GET` through the same SSRF guard and
/// resolver as webhooks (`outbound.allow_http` honoured), no redirects, no proxies, and 5 s
/// for the whole exchange, body included (a server that trickles its body times out too).
pub struct DocumentClient(HttpSender);

impl std::fmt::Debug for DocumentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DocumentClient").field(&self.0).finish()
    }
}

impl DocumentClient {
    pub fn new(guard: Guard, resolver: Arc<dyn Resolver>) -> Self {
        install_tls();
        Self(HttpSender {
            guard,
            resolver,
            timeout: Duration::from_secs(5),
        })
    }

    async fn get(&self, url: &str, max_bytes: usize) -> SendResult {
        let client = match self.0.client_for(url).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let mut resp = match client
            .get(url)
            .header("accept", "application/json, application/xml, */*")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return request_error(&e),
        };
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return SendResult::Error("too_large".to_owned());
        }
        let mut body: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > max_bytes {
                        return SendResult::Error("too_large".to_owned());
                    }
                }
                Ok(None) => break,
                Err(e) => return request_error(&e),
            }
        }
        SendResult::Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after: None,
        }
    }
}

#[async_trait::async_trait]
impl DocumentFetcher for DocumentClient {
    async fn fetch(&self, url: &str, max_bytes: usize) -> SendResult {
        let timeout = self.0.timeout;
        match tokio::time::timeout(timeout, self.get(url, max_bytes)).await {
            Ok(r) => r,
            Err(_) => SendResult::Error("timeout".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on loopback answering `response`; returns its port and the
    /// request it received.
    async fn one_shot(response: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0_u8; 65_536];
            let n = sock.read(&mut buf).await.unwrap();
            sock.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, task)
    }

    fn local() -> HttpSender {
        let guard = Guard {
            allowed_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: true,
        };
        let overrides = HashMap::from([("receiver.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])]);
        HttpSender::new(guard, Arc::new(SystemResolver { overrides }))
    }

    fn req(url: String) -> OutboundRequest {
        OutboundRequest {
            url,
            headers: vec![("webhook-id".into(), "evt_1".into())],
            body: "{\"a\":1}".into(),
        }
    }

    #[tokio::test]
    async fn posts_the_exact_body_and_headers_to_the_checked_address() {
        let (port, seen) = one_shot("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        let result = local().send(req(format!("http://receiver.test:{port}/hook"))).await;
        assert_eq!(
            result,
            SendResult::Response {
                status: 204,
                body: String::new(),
                retry_after: None
            }
        );
        let raw = seen.await.unwrap();
        assert!(raw.starts_with("POST /hook HTTP/1.1"), "{raw}");
        assert!(raw.contains("webhook-id: evt_1"));
        assert!(raw.ends_with("{\"a\":1}"));
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_retry_after_is_read() {
        let (port, _) =
            one_shot("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n").await;
        let r = local().send(req(format!("http://127.0.0.1:{port}/"))).await;
        assert!(matches!(r, SendResult::Response { status: 302, .. }), "{r:?}");
        let (port, _) = one_shot("HTTP/1.1 503 Busy\r\nretry-after: 120\r\ncontent-length: 0\r\n\r\n").await;
        let r = local().send(req(format!("http://127.0.0.1:{port}/"))).await;
        assert_eq!(
            r,
            SendResult::Response {
                status: 503,
                body: String::new(),
                retry_after: Some(chrono::Duration::seconds(120))
            }
        );
    }

    #[tokio::test]
    async fn names_resolving_to_denied_addresses_are_never_contacted() {
        let guard = Guard {
            allowed_private: vec![],
            allow_http: true,
        };
        let overrides = HashMap::from([(
            "evil.test".to_owned(),
            vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()],
        )]);
        let sender = HttpSender::new(guard, Arc::new(SystemResolver { overrides }));
        assert_eq!(
            sender.send(req("http://evil.test/".into())).await,
            SendResult::Error("ssrf_denied".into())
        );
        assert_eq!(
            sender.send(req("http://127.0.0.1/".into())).await,
            SendResult::Error("ssrf_denied".into())
        );
        assert_eq!(
            sender.send(req("http://0x7f.1/".into())).await,
            SendResult::Error("ssrf_denied".into())
        );
    }

    fn fetcher(allowed: &[&str]) -> HttpFetcher {
        let guard = Guard {
            allowed_private: allowed.iter().map(|c| c.parse().unwrap()).collect(),
            allow_http: false,
        };
        let overrides = HashMap::from([("site.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])]);
        HttpFetcher::new(guard, Arc::new(SystemResolver { overrides }))
    }

    #[tokio::test]
    async fn the_verification_fetch_is_a_plain_http_get_within_the_guard_and_the_size_limit() {
        let (port, seen) = one_shot("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\ntoken\n").await;
        let url = format!("http://site.test:{port}/.well-known/sso-verification.txt");
        // `http` although `allow_http` is off: the HTTP method always uses it (§14).
        let r = fetcher(&["127.0.0.1/32"]).fetch(&url, 1024).await;
        assert_eq!(
            r,
            SendResult::Response {
                status: 200,
                body: "token\n".into(),
                retry_after: None
            }
        );
        assert!(
            seen.await
                .unwrap()
                .starts_with("GET /.well-known/sso-verification.txt HTTP/1.1")
        );
        // A body over the limit is refused, not truncated into a match.
        let big: &'static str =
            Box::leak(format!("HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n{}", "x".repeat(2000)).into_boxed_str());
        let (port, _) = one_shot(big).await;
        let url = format!("http://site.test:{port}/");
        let r = fetcher(&["127.0.0.1/32"]).fetch(&url, 1024).await;
        assert_eq!(r, SendResult::Error("too_large".into()));
        // Without the exception the loopback address is never contacted.
        let r = fetcher(&[]).fetch("http://site.test:1/", 1024).await;
        assert_eq!(r, SendResult::Error("ssrf_denied".into()));
        let r = fetcher(&["127.0.0.1/32"]).fetch("https://site.test/", 1024).await;
        assert_eq!(r, SendResult::Error("invalid_url".into()));
    }

    fn documents(allow_http: bool) -> DocumentClient {
        let guard = Guard {
            allowed_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http,
        };
        let overrides = HashMap::from([("idp.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])]);
        DocumentClient::new(guard, Arc::new(SystemResolver { overrides }))
    }

    #[tokio::test]
    async fn documents_are_fetched_within_the_guard_the_size_limit_and_without_redirects() {
        let (port, seen) = one_shot("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        let r = documents(true)
            .fetch(
                &format!("http://idp.test:{port}/.well-known/openid-configuration"),
                1024,
            )
            .await;
        assert_eq!(
            r,
            SendResult::Response {
                status: 200,
                body: "{}".into(),
                retry_after: None
            }
        );
        assert!(
            seen.await
                .unwrap()
                .starts_with("GET /.well-known/openid-configuration HTTP/1.1")
        );
        let (port, _) =
            one_shot("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n").await;
        let r = documents(true).fetch(&format!("http://127.0.0.1:{port}/"), 1024).await;
        assert!(
            matches!(r, SendResult::Response { status: 302, .. }),
            "not followed: {r:?}"
        );
        let big: &'static str =
            Box::leak(format!("HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n{}", "x".repeat(2000)).into_boxed_str());
        let (port, _) = one_shot(big).await;
        let r = documents(true).fetch(&format!("http://127.0.0.1:{port}/"), 1024).await;
        assert_eq!(r, SendResult::Error("too_large".into()));
        // `http` only with `outbound.allow_http`; loopback outside the exception never.
        let r = documents(false).fetch("http://idp.test:1/", 1024).await;
        assert_eq!(r, SendResult::Error("invalid_url".into()));
        let r = documents(true).fetch("http://127.0.0.2:1/", 1024).await;
        assert_eq!(r, SendResult::Error("ssrf_denied".into()));
        let r = documents(true).fetch("http://[::ffff:10.0.0.1]:1/", 1024).await;
        assert_eq!(r, SendResult::Error("ssrf_denied".into()));
    }
}
