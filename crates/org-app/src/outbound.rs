//! The SSRF guard of §9.3 (used at create/update and again at send time): a target is allowed only if every address it is or resolves to is
//! globally reachable (IANA special-purpose registries), after unwrapping IPv4 embedded in
//! IPv6; `localhost` names are refused; `outbound.allowed_private_cidrs` are the only exceptions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

/// Why a URL is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not an absolute URL, too long, wrong scheme, user-info or fragment.
    Invalid(String),
    /// The address (or a resolved one) is not globally reachable.
    Denied(IpAddr),
    /// `localhost` or `*.localhost`.
    DeniedName,
}

/// A URL that passed the syntax rules: where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Ip(IpAddr, u16),
    Name(String, u16),
}

fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len).unwrap_or_default())
}

fn v6(s: &str, len: u8) -> IpNet {
    s.parse::<Ipv6Addr>()
        .ok()
        .and_then(|a| ipnet::Ipv6Net::new(a, len).ok())
        .map_or(IpNet::V4(Default::default()), IpNet::V6)
}

/// Special-purpose ranges that are not globally reachable.
fn denied_ranges() -> Vec<IpNet> {
    vec![
        v4(0, 0, 0, 0, 8),
        v4(10, 0, 0, 0, 8),
        v4(100, 64, 0, 0, 10),
        v4(127, 0, 0, 0, 8),
        v4(169, 254, 0, 0, 16),
        v4(172, 16, 0, 0, 12),
        v4(192, 0, 0, 0, 24),
        v4(192, 0, 2, 0, 24),
        v4(192, 31, 196, 0, 24),
        v4(192, 52, 193, 0, 24),
        v4(192, 88, 99, 0, 24),
        v4(192, 168, 0, 0, 16),
        v4(192, 175, 48, 0, 24),
        v4(198, 18, 0, 0, 15),
        v4(198, 51, 100, 0, 24),
        v4(203, 0, 113, 0, 24),
        v4(224, 0, 0, 0, 4),
        v4(240, 0, 0, 0, 4),
        v6("::", 128),
        v6("::1", 128),
        v6("100::", 64),
        v6("2001::", 23),
        v6("2001:db8::", 32),
        v6("3fff::", 20),
        v6("5f00::", 16),
        v6("fc00::", 7),
        v6("fe80::", 10),
        v6("fec0::", 10),
        v6("ff00::", 8),
    ]
}

/// IPv4 addresses embedded in an IPv6 address by the transition mechanisms of §9.3.
fn embedded_v4(a: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = a.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mut out = Vec::new();
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) && !(s[5] == 0 && s[6] == 0) {
        out.push(low); // IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        out.push(low); // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
    }
    if s[0] == 0x2002 {
        out.push(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        )); // 6to4
    }
    if s[0] == 0x2001 && s[1] == 0 {
        out.push(Ipv4Addr::new(
            (s[2] >> 8) as u8,
            s[2] as u8,
            (s[3] >> 8) as u8,
            s[3] as u8,
        )); // Teredo server
        out.push(Ipv4Addr::from(!u32::from(low))); // Teredo client (obfuscated)
    }
    out
}

/// The guard with the operator's settings.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    pub allowed_private: Vec<IpNet>,
    pub allow_http: bool,
}

impl Guard {
    /// Whether a connection to `ip` is allowed.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        if self.allowed_private.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        let ranges = denied_ranges();
        if ranges.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        match ip {
            IpAddr::V4(_) => true,
            IpAddr::V6(a) => embedded_v4(a).into_iter().all(|e| self.ip_allowed(IpAddr::V4(e))),
        }
    }

    /// Applies the URL rules of §9.3 and checks an IP-literal host; a name is returned for
    /// resolution (and every resolved address must then pass [`Guard::ip_allowed`]).
    pub fn check_url(&self, raw: &str) -> Result<Target, UrlError> {
        if raw.len() > 2048 {
            return Err(UrlError::Invalid("URL is longer than 2048 characters".into()));
        }
        let url = Url::parse(raw).map_err(|e| UrlError::Invalid(format!("not an absolute URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(UrlError::Invalid(format!("scheme '{other}' is not allowed; use https"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Invalid("URL must not contain user information".into()));
        }
        if url.fragment().is_some() {
            return Err(UrlError::Invalid("URL must not contain a fragment".into()));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(Host::Ipv4(ip)) => self.checked(IpAddr::V4(ip), port),
            Some(Host::Ipv6(ip)) => self.checked(IpAddr::V6(ip), port),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(UrlError::DeniedName);
                }
                Ok(Target::Name(name, port))
            }
            None => Err(UrlError::Invalid("URL has no host".into())),
        }
    }

    /// Checks a bare host (an SMTP server, §13): an IP literal in any spelling (decimal, octal,
    /// hex IPv4; IPv6 with or without brackets) must be allowed; `localhost` names are refused;
    /// a name is returned for resolution, as by [`Guard::check_url`].
    pub fn check_host(&self, host: &str, port: u16) -> Result<Target, UrlError> {
        let h = host.trim();
        let bracketed = if h.contains(':') && !h.starts_with('[') {
            format!("[{h}]")
        } else {
            h.to_owned()
        };
        match Host::parse(&bracketed) {
            Ok(Host::Ipv4(ip)) => self.checked(IpAddr::V4(ip), port),
            Ok(Host::Ipv6(ip)) => self.checked(IpAddr::V6(ip), port),
            Ok(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(UrlError::DeniedName);
                }
                Ok(Target::Name(name, port))
            }
            Err(e) => Err(UrlError::Invalid(format!("not a host name: {e}"))),
        }
    }

    fn checked(&self, ip: IpAddr, port: u16) -> Result<Target, UrlError> {
        if self.ip_allowed(ip) {
            Ok(Target::Ip(ip, port))
        } else {
            Err(UrlError::Denied(ip))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn denied(url: &str) -> bool {
        matches!(
            Guard::default().check_url(url),
            Err(UrlError::Denied(_) | UrlError::DeniedName)
        )
    }

    #[test]
    fn smtp_hosts_are_checked_in_every_spelling() {
        let g = Guard::default();
        for host in [
            "127.0.0.1",
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "::1",
            "[::ffff:10.0.0.1]",
            "localhost",
            "mx.localhost",
        ] {
            assert!(
                matches!(g.check_host(host, 25), Err(UrlError::Denied(_) | UrlError::DeniedName)),
                "{host}"
            );
        }
        assert_eq!(
            g.check_host("8.8.8.8", 25),
            Ok(Target::Ip("8.8.8.8".parse().unwrap(), 25))
        );
        assert_eq!(
            g.check_host("Mail.Example.com", 587),
            Ok(Target::Name("mail.example.com".into(), 587))
        );
        let local = Guard {
            allowed_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: false,
        };
        assert!(local.check_host("127.0.0.1", 25).is_ok());
    }

    #[test]
    fn loopback_private_link_local_cgnat_and_metadata_addresses_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fc00::1]/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://198.18.0.1/",
            "https://192.0.2.10/",
        ] {
            assert!(denied(url), "{url}");
        }
    }

    #[test]
    fn ipv4_in_ipv6_forms_are_unwrapped() {
        for url in [
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://[2002:7f00:1::]/",
            "https://[2001:0:7f00:1::]/",
        ] {
            assert!(denied(url), "{url}");
        }
        assert!(!denied("https://[::ffff:8.8.8.8]/"));
        assert!(!denied("https://[2606:4700:4700::1111]/"));
    }

    #[test]
    fn decimal_octal_and_hex_ipv4_spellings_are_normalised_first() {
        for url in [
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.0.0.1/",
            "https://0x7f000001/",
            "https://127.1/",
        ] {
            assert!(denied(url), "{url}");
        }
    }

    #[test]
    fn localhost_names_are_refused_by_name() {
        assert!(denied("https://localhost/"));
        assert!(denied("https://api.LOCALHOST./x"));
        assert_eq!(
            Guard::default().check_url("https://example.com:8443/h"),
            Ok(Target::Name("example.com".into(), 8443))
        );
    }

    #[test]
    fn url_syntax_rules() {
        let g = Guard::default();
        for bad in [
            "ftp://example.com/",
            "http://example.com/",
            "https://u:p@example.com/",
            "https://example.com/#x",
            "/relative",
        ] {
            assert!(matches!(g.check_url(bad), Err(UrlError::Invalid(_))), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(matches!(g.check_url(&long), Err(UrlError::Invalid(_))));
        let local = Guard {
            allowed_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: true,
        };
        assert_eq!(
            local.check_url("http://127.0.0.1:9000/hook"),
            Ok(Target::Ip("127.0.0.1".parse().unwrap(), 9000))
        );
        assert!(matches!(local.check_url("http://127.0.0.2/"), Err(UrlError::Denied(_))));
    }
}
