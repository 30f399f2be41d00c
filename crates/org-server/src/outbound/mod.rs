//! Outbound adapters: the SSRF guard every outbound connection passes (§9.3) and webhook
//! request signing (§9.6).

pub mod signing;
pub mod ssrf;
