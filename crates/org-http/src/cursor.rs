//! Opaque, authenticated keyset cursors (§1.6): `base64url(payload) "." base64url(HMAC-SHA256)`.
//!
//! The payload binds the cursor to the list it was issued for (`audit:org:<id>`,
//! `audit:platform`, `deliveries:<webhook_id>`), to a hash of the filter set and carries the
//! last row's sort key (`created_at` in microseconds and a tie-breaker: the audit `seq` or the
//! delivery id). Anything that does not verify, or that was issued for another list or other
//! filters, is 400 `VALIDATION_FAILED` on the field `cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use org_ports::PageRequest;
use sha2::{Digest, Sha256};

use crate::dto::Pagination;
use crate::error::ApiError;
use crate::extract::Query;

type HmacSha256 = Hmac<Sha256>;

/// Version tag of the payload layout.
const VERSION: &str = "c1";

/// The sort key of the last row of a page: `created_at` and a tie-breaker (audit `seq` or a
/// delivery id as text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub at: DateTime<Utc>,
    pub tie: String,
}

/// A hash of a filter set: each `(name, value)` pair, absent filters included as `null`.
pub fn filter_hash(pairs: &[(&str, Option<String>)]) -> String {
    let text = serde_json::to_string(pairs).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8; 32], payload: &[u8]) -> HmacSha256 {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(payload);
    m
}

/// Issues a cursor for `list` and `filters` positioned after `key`.
pub fn issue(cursor_key: &[u8; 32], list: &str, filters: &str, key: &SortKey) -> String {
    let payload = format!("{VERSION}|{list}|{filters}|{}|{}", key.at.timestamp_micros(), key.tie);
    let tag = mac(cursor_key, payload.as_bytes()).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn invalid(message: &str) -> ApiError {
    ApiError::invalid("cursor", message)
}

/// Verifies a cursor and returns its sort key; it must have been issued for `list` and
/// `filters` under `cursor_key`.
pub fn open(cursor_key: &[u8; 32], list: &str, filters: &str, cursor: &str) -> Result<SortKey, ApiError> {
    let (issued_list, key) = open_in(cursor_key, filters, cursor)?;
    if issued_list != list {
        return Err(invalid("the cursor was issued for another list"));
    }
    Ok(key)
}

/// Verifies a cursor issued for one of the lists `<family>:<id>` and returns the `<id>` and
/// the sort key; the caller checks that the id is the one it serves (when it learns it only
/// after a lookup it does anyway, e.g. the org of a member list).
pub fn open_family(
    cursor_key: &[u8; 32],
    family: &str,
    filters: &str,
    cursor: &str,
) -> Result<(String, SortKey), ApiError> {
    let (issued_list, key) = open_in(cursor_key, filters, cursor)?;
    match issued_list.strip_prefix(family).and_then(|rest| rest.strip_prefix(':')) {
        Some(id) => Ok((id.to_owned(), key)),
        None => Err(invalid("the cursor was issued for another list")),
    }
}

fn open_in(cursor_key: &[u8; 32], filters: &str, cursor: &str) -> Result<(String, SortKey), ApiError> {
    let malformed = || invalid("malformed or tampered cursor");
    let (payload, tag) = cursor.split_once('.').ok_or_else(malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| malformed())?;
    mac(cursor_key, &payload).verify_slice(&tag).map_err(|_| malformed())?;
    let payload = String::from_utf8(payload).map_err(|_| malformed())?;
    let mut parts = payload.splitn(5, '|');
    let (Some(version), Some(issued_list), Some(issued_filters), Some(micros), Some(tie)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if version != VERSION {
        return Err(malformed());
    }
    if issued_filters != filters {
        return Err(invalid("the cursor was issued for other filters"));
    }
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(malformed)?;
    Ok((
        issued_list.to_owned(),
        SortKey {
            at,
            tie: tie.to_owned(),
        },
    ))
}

/// Offset mode refuses pages that start this deep (§1.6).
const MAX_OFFSET: u64 = 10_000;

/// How a cursor-capable list is paged for one request.
#[derive(Clone, Debug)]
pub struct Paging {
    list: String,
    filters: String,
    limit: u32,
    mode: Mode,
}

#[derive(Clone, Debug)]
enum Mode {
    Offset(PageRequest),
    Cursor(SortKey),
}

/// One page ready for the wire.
#[derive(Clone, Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub pagination: Pagination,
    pub next_cursor: Option<String>,
}

impl Paging {
    /// Reads `cursor`, `page` and `limit` (default 50) for `list` under `filters`
    /// ([`filter_hash`]). With a cursor, `page` is ignored.
    pub fn from_query(query: &Query, cursor_key: &[u8; 32], list: String, filters: String) -> Result<Self, ApiError> {
        let limit = query.page(50)?.limit;
        let mode = match query.text("cursor") {
            Some(c) => Mode::Cursor(open(cursor_key, &list, &filters, c)?),
            None => {
                let page = query.page(50)?;
                if page.offset() >= MAX_OFFSET {
                    return Err(ApiError::invalid("page", "use cursor pagination beyond 10 000 rows"));
                }
                Mode::Offset(page)
            }
        };
        Ok(Self {
            list,
            filters,
            limit,
            mode,
        })
    }

    /// Reads `page` and `limit` (default 50) for a list whose cursor the caller opens itself
    /// (its list name is known only after a lookup); `offset_page` is `None` when a cursor is
    /// given. Offset pages deeper than 10 000 rows are refused (§1.6).
    pub fn from_query_unbound(query: &Query) -> Result<Self, ApiError> {
        let page = query.page(50)?;
        let mode = match query.text("cursor") {
            Some(_) => Mode::Cursor(SortKey {
                at: DateTime::<Utc>::MIN_UTC,
                tie: String::new(),
            }),
            None => {
                if page.offset() >= MAX_OFFSET {
                    return Err(ApiError::invalid("page", "use cursor pagination beyond 10 000 rows"));
                }
                Mode::Offset(page)
            }
        };
        Ok(Self {
            list: String::new(),
            filters: String::new(),
            limit: page.limit,
            mode,
        })
    }

    /// The offset page (offset mode).
    pub fn offset_page(&self) -> Option<PageRequest> {
        match self.mode {
            Mode::Offset(p) => Some(p),
            Mode::Cursor(_) => None,
        }
    }

    /// Rows per page.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The keyset position to read before (cursor mode).
    pub fn before(&self) -> Option<&SortKey> {
        match &self.mode {
            Mode::Cursor(k) => Some(k),
            Mode::Offset(_) => None,
        }
    }

    /// What to ask the store for: the page, or one row more than a page after the cursor
    /// (to learn whether a next page exists without counting).
    pub fn request(&self) -> PageRequest {
        match self.mode {
            Mode::Offset(p) => p,
            Mode::Cursor(_) => PageRequest {
                page: 1,
                limit: self.limit + 1,
            },
        }
    }

    /// Builds the page from the store's rows and total, issuing the next cursor from the last
    /// row's sort key.
    pub fn finish<T>(
        &self,
        cursor_key: &[u8; 32],
        mut items: Vec<T>,
        total: Option<u64>,
        key_of: impl Fn(&T) -> SortKey,
    ) -> Paged<T> {
        let limit = self.limit;
        let (pagination, has_next) = match self.mode {
            Mode::Offset(p) => {
                let total = total.unwrap_or_default();
                let has_next = u64::from(p.page) * u64::from(limit) < total;
                let pagination = Pagination {
                    page: Some(p.page),
                    limit,
                    total: Some(total),
                    total_pages: Some(total.div_ceil(u64::from(limit))),
                    has_next,
                    has_prev: p.page > 1,
                };
                (pagination, has_next)
            }
            Mode::Cursor(_) => {
                let has_next = items.len() > limit as usize;
                items.truncate(limit as usize);
                let pagination = Pagination {
                    page: None,
                    limit,
                    total: None,
                    total_pages: None,
                    has_next,
                    has_prev: true,
                };
                (pagination, has_next)
            }
        };
        let next_cursor = items
            .last()
            .filter(|_| has_next)
            .map(|last| issue(cursor_key, &self.list, &self.filters, &key_of(last)));
        Paged {
            items,
            pagination,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn key() -> SortKey {
        SortKey {
            at: DateTime::from_timestamp_micros(1_740_830_400_123_000).unwrap(),
            tie: "42".into(),
        }
    }

    #[test]
    fn a_cursor_opens_only_for_its_list_filters_and_key() {
        let f = filter_hash(&[("action", Some("role.created".into()))]);
        let c = issue(&KEY, "audit:platform", &f, &key());
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        );
        assert_eq!(open(&KEY, "audit:platform", &f, &c).unwrap(), key());
        let other = filter_hash(&[("action", None)]);
        for (k, list, filters) in [
            (&[8; 32], "audit:platform", f.as_str()),
            (&KEY, "audit:org:x", f.as_str()),
            (&KEY, "audit:platform", other.as_str()),
        ] {
            let e = open(k, list, filters, &c).unwrap_err();
            assert_eq!(e.errors[0].field, "cursor");
        }
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let f = filter_hash(&[]);
        let c = issue(&KEY, "audit:platform", &f, &key());
        let (payload, tag) = c.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("|42", "|41"),
        );
        for bad in [
            format!("{forged}.{tag}"),
            "x".into(),
            "a.b".into(),
            format!("{payload}."),
        ] {
            assert!(open(&KEY, "audit:platform", &f, &bad).is_err(), "{bad}");
        }
    }
}
