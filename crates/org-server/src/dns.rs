//! TXT lookups of DNS domain verification (§14, §9.3) through hickory-resolver on tokio: the
//! system resolver (`/etc/resolv.conf`) or the server named by `outbound.dns_server`, except
//! for names listed in `outbound.dns_overrides`, answered from that table only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use org_ports::{TxtLookup, TxtResolver};

/// A TXT resolver. Answers are never cached: a verification sees the records as they are now.
pub struct HickoryTxt {
    resolver: TokioResolver,
    overrides: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for HickoryTxt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryTxt")
            .field("overrides", &self.overrides.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut o = ResolverOpts::default();
    o.cache_size = 0;
    o.timeout = Duration::from_secs(5);
    o.attempts = 1;
    o
}

impl HickoryTxt {
    /// Asks `server` (UDP, then TCP for truncated answers) or, with `None`, the system
    /// resolver; `overrides` maps lower-case names to their TXT values.
    pub fn new(server: Option<SocketAddr>, overrides: HashMap<String, Vec<String>>) -> Self {
        let resolver = match server {
            Some(addr) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                    .with_options(options())
                    .build()
            }
            None => match TokioResolver::builder_tokio() {
                Ok(builder) => builder.with_options(options()).build(),
                // No usable `/etc/resolv.conf`: every lookup fails (`dns_error`) rather than the
                // server refusing to start for a feature an operator may not use.
                Err(e) => {
                    tracing::warn!(error = %e, "no system resolver configuration; DNS domain verification will fail");
                    TokioResolver::builder_with_config(ResolverConfig::new(), TokioConnectionProvider::default())
                        .with_options(options())
                        .build()
                }
            },
        };
        Self { resolver, overrides }
    }
}

/// Joins the character-strings of one TXT record (a value over 255 bytes is sent in chunks).
fn joined(chunks: &[Box<[u8]>]) -> String {
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[async_trait::async_trait]
impl TxtResolver for HickoryTxt {
    async fn txt(&self, name: &str) -> TxtLookup {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(values) = self.overrides.get(&name) {
            return if values.is_empty() {
                TxtLookup::NotFound
            } else {
                TxtLookup::Records(values.clone())
            };
        }
        // Fully qualified: no search domain is ever appended.
        match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(found) => {
                let records: Vec<String> = found.iter().map(|txt| joined(txt.txt_data())).collect();
                if records.is_empty() {
                    TxtLookup::NotFound
                } else {
                    TxtLookup::Records(records)
                }
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => TxtLookup::NotFound,
            Err(e) => {
                tracing::debug!(error = %e, "TXT lookup failed");
                TxtLookup::Failed("dns_error".to_owned())
            }
        }
    }
}
