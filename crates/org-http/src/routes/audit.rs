//! §8 and §20: the org audit log (list with filters and cursors, event types, head, streamed
//! export) and the platform audit log.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use org_app::{AUDIT_ACTIONS, App, AppError};
use org_domain::OrgId;
use org_ports::{AuditEntry, AuditFilter, AuditLog};

use super::{ok, with_next_cursor};
use crate::auth::Auth;
use crate::cursor::{Paging, SortKey, filter_hash};
use crate::dto::{AuditHeadResponse, AuditLogEntryDto, AuditLogListResponse, EventTypeDto};
use crate::error::{ApiError, timestamp};
use crate::extract::{Meta, Path, Query};
use crate::state::HttpState;

fn time(query: &Query, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    query
        .text(name)
        .map(|t| {
            DateTime::parse_from_rfc3339(t.trim())
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid(name, "must be an RFC 3339 timestamp"))
        })
        .transpose()
}

/// The filters of §8.1.
fn audit_filter(query: &Query) -> Result<AuditFilter, ApiError> {
    let text = |name: &str| query.text(name).map(str::to_owned);
    Ok(AuditFilter {
        action: text("action"),
        actor_id: text("actor_id"),
        target_type: text("target_type"),
        target_id: text("target_id"),
        since: time(query, "since")?,
        until: time(query, "until")?,
        before: None,
    })
}

fn audit_filter_hash(f: &AuditFilter) -> String {
    let at = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros().to_string());
    filter_hash(&[
        ("action", f.action.clone()),
        ("actor_id", f.actor_id.clone()),
        ("target_type", f.target_type.clone()),
        ("target_id", f.target_id.clone()),
        ("since", at(f.since)),
        ("until", at(f.until)),
    ])
}

fn list_name(log: AuditLog) -> String {
    match log {
        AuditLog::Org(id) => format!("audit:org:{id}"),
        AuditLog::Platform => "audit:platform".to_owned(),
    }
}

fn sort_key(e: &AuditEntry) -> SortKey {
    SortKey {
        at: e.entry.created_at,
        tie: e.seq.to_string(),
    }
}

/// Reads `before` from the cursor (if any) into the filter.
fn keyset(paging: &Paging, filter: &mut AuditFilter) -> Result<(), ApiError> {
    if let Some(k) = paging.before() {
        let seq = k
            .tie
            .parse::<u64>()
            .map_err(|_| ApiError::invalid("cursor", "malformed or tampered cursor"))?;
        filter.before = Some((k.at, seq));
    }
    Ok(())
}

fn list_response(state: &HttpState, paging: &Paging, page: org_ports::Page<AuditEntry>) -> Response {
    let paged = paging.finish(state.cursor_key(), page.items, page.total, sort_key);
    let next = paged.next_cursor.clone();
    with_next_cursor(
        ok(AuditLogListResponse {
            logs: paged.items.iter().map(AuditLogEntryDto::from).collect(),
            pagination: paged.pagination,
            next_cursor: paged.next_cursor,
        }),
        next.as_deref(),
    )
}

/// The org's audit log, newest first, filtered, by page or by cursor.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/audit-log", tag = "audit", operation_id = "list_audit_logs",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("page" = Option<u32>, Query, description = "1-based; ignored with `cursor`; (page-1)*limit < 10 000"),
        ("limit" = Option<u32>, Query, description = "1..100, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("action" = Option<String>, Query, description = "exact action"),
        ("actor_id" = Option<String>, Query, description = "user id, SCIM token id, login-key id, `system` or `anonymous`"),
        ("target_type" = Option<String>, Query), ("target_id" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339; created_at >= since"),
        ("until" = Option<String>, Query, description = "RFC 3339; created_at < until"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditLogListResponse,
            headers(("X-Next-Cursor" = String, description = "present when there is a next page"))),
        (status = 400, description = "Malformed filter, page too deep, or a cursor that does not belong to this list and these filters (VALIDATION_FAILED)"),
    ))]
pub(crate) async fn list_audit_logs(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let mut filter = audit_filter(&query)?;
    let log = state.app().audit.log_of(&auth.caller, &meta, &slug).await?;
    let paging = Paging::from_query(&query, state.cursor_key(), list_name(log), audit_filter_hash(&filter))?;
    keyset(&paging, &mut filter)?;
    let page = state
        .app()
        .audit
        .list(&auth.caller, &meta, &slug, &filter, paging.request())
        .await?;
    Ok(list_response(&state, &paging, page))
}

/// The platform log, or an org's log by id (platform owners only).
#[utoipa::path(get, path = "/api/platform/audit-log", tag = "platform", operation_id = "platform_list_audit_logs",
    security(("bearer" = [])),
    params(
        ("organization_id" = Option<String>, Query, description = "read this org's log (deleted orgs until purged)"),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query, description = "1..100, default 50"),
        ("cursor" = Option<String>, Query),
        ("action" = Option<String>, Query), ("actor_id" = Option<String>, Query),
        ("target_type" = Option<String>, Query), ("target_id" = Option<String>, Query),
        ("since" = Option<String>, Query), ("until" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditLogListResponse,
            headers(("X-Next-Cursor" = String, description = "present when there is a next page"))),
        (status = 400, description = "Malformed filter or organization_id, page too deep, or a foreign cursor (VALIDATION_FAILED)"),
        (status = 404, description = "Unknown or purged organization_id"),
    ))]
pub(crate) async fn platform_list_audit_logs(
    State(state): State<HttpState>,
    auth: Auth,
    query: Query,
) -> Result<Response, ApiError> {
    // The use case decides too; deciding first keeps 403 ahead of query validation.
    auth.caller.actor().platform_owner().map_err(AppError::from)?;
    let org = query
        .text("organization_id")
        .map(|t| OrgId::parse(t.trim()).ok_or_else(|| ApiError::invalid("organization_id", "must be a UUID")))
        .transpose()?;
    let mut filter = audit_filter(&query)?;
    let log = org.map_or(AuditLog::Platform, AuditLog::Org);
    let paging = Paging::from_query(&query, state.cursor_key(), list_name(log), audit_filter_hash(&filter))?;
    keyset(&paging, &mut filter)?;
    let page = state
        .app()
        .audit
        .platform(&auth.caller, org, &filter, paging.request())
        .await?;
    Ok(list_response(&state, &paging, page))
}

/// The actions written to org logs, with labels and categories.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/audit-log/event-types", tag = "audit", operation_id = "list_audit_event_types",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "Bare array", body = [EventTypeDto])))]
pub(crate) async fn list_audit_event_types(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    state.app().audit.log_of(&auth.caller, &meta, &slug).await?;
    Ok(ok(AUDIT_ACTIONS
        .iter()
        .map(|a| EventTypeDto {
            value: a.value.to_owned(),
            label: a.label.to_owned(),
            category: a.category.to_owned(),
        })
        .collect::<Vec<_>>()))
}

/// The newest entry's place in the chain, for checkpoints.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/audit-log/head", tag = "audit", operation_id = "get_audit_head",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "`{seq, hash, created_at}` of the newest entry; all `null` for an empty log", body = AuditHeadResponse)))]
pub(crate) async fn get_audit_head(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let head = state.app().audit.head(&auth.caller, &meta, &slug).await?;
    Ok(ok(AuditHeadResponse {
        seq: head.as_ref().map(|e| e.seq),
        hash: head.as_ref().map(|e| org_ports::chain::to_hex(&e.hash)),
        created_at: head.as_ref().map(|e| timestamp(e.entry.created_at)),
    }))
}

/// Entries read per store round trip while exporting: the memory an export holds at once.
const CHUNK: u32 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

/// The columns of a CSV export (§8.3).
pub(crate) const CSV_HEADER: &str = "seq,id,organization_id,actor_id,actor_type,action,target_type,target_id,ip_address,user_agent,success,metadata,request_id,created_at,prev_hash,hash\n";

/// One CSV cell: `None` is an empty cell; text is quoted when it must be, and an empty
/// string is `""` so that it differs from `null`.
fn cell(out: &mut String, value: Option<&str>) {
    match value {
        None => {}
        Some(v) if v.is_empty() || v.contains([',', '"', '\n', '\r']) => {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        }
        Some(v) => out.push_str(v),
    }
}

fn csv_row(out: &mut String, e: &AuditEntry) {
    let d = &e.entry;
    let metadata = d.metadata.as_ref().map(|m| serde_jcs::to_string(m).unwrap_or_default());
    let cells: [Option<String>; 16] = [
        Some(e.seq.to_string()),
        Some(d.id.to_string()),
        d.org_id.map(|o| o.to_string()),
        Some(d.actor.id.clone()),
        Some(d.actor.kind.as_str().to_owned()),
        Some(d.action.clone()),
        d.target_type.clone(),
        d.target_id.clone(),
        d.ip_address.clone(),
        d.user_agent.clone(),
        Some(d.success.to_string()),
        metadata,
        d.request_id.clone(),
        Some(timestamp(d.created_at)),
        Some(org_ports::chain::to_hex(&e.prev_hash)),
        Some(org_ports::chain::to_hex(&e.hash)),
    ];
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, c.as_deref());
    }
    out.push('\n');
}

fn render(out: &mut String, format: Format, e: &AuditEntry) {
    match format {
        Format::Ndjson => {
            out.push_str(&serde_json::to_string(&AuditLogEntryDto::from(e)).unwrap_or_default());
            out.push('\n');
        }
        Format::Csv => csv_row(out, e),
    }
}

/// The state of a streamed export: where the next chunk starts.
struct Export {
    app: App,
    log: AuditLog,
    filter: AuditFilter,
    format: Format,
    after: u64,
    started: bool,
    done: bool,
}

impl Export {
    /// The next non-empty piece of the body, or `None` at the end.
    async fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            if self.format == Format::Csv {
                out.push_str(CSV_HEADER);
            }
        }
        while !self.done {
            let chunk = match self.app.audit.chunk(self.log, self.after, CHUNK).await {
                Ok(c) => c,
                Err(e) => {
                    // The status line is gone; abort the body so the client sees a broken transfer.
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    self.done = true;
                    return Some(Err(io::Error::other("audit export failed")));
                }
            };
            self.done = chunk.len() < CHUNK as usize;
            if let Some(last) = chunk.last() {
                self.after = last.seq;
            }
            for e in chunk.iter().filter(|e| self.filter.matches(&e.entry)) {
                render(&mut out, self.format, e);
            }
            if !out.is_empty() {
                break;
            }
        }
        (!out.is_empty()).then(|| Ok(Bytes::from(out)))
    }
}

/// Every matching entry in ascending `seq`, streamed chunk by chunk.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/audit-log/export", tag = "audit", operation_id = "export_audit_logs",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
        ("action" = Option<String>, Query), ("actor_id" = Option<String>, Query),
        ("target_type" = Option<String>, Query), ("target_id" = Option<String>, Query),
        ("since" = Option<String>, Query), ("until" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "`application/x-ndjson`: one AuditLogEntry (with seq, prev_hash, hash) per line; `text/csv`: a header row, then one row per entry",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "Unknown format or malformed filter (VALIDATION_FAILED)"),
    ))]
pub(crate) async fn export_audit_logs(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let format = query
        .parsed("format", |f| match f {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        })?
        .unwrap_or(Format::Ndjson);
    let filter = audit_filter(&query)?;
    let log = state.app().audit.log_of(&auth.caller, &meta, &slug).await?;
    let export = Export {
        app: state.app().clone(),
        log,
        filter,
        format,
        after: 0,
        started: false,
        done: false,
    };
    let stream = futures_util::stream::unfold(export, |mut ex| async move { ex.next().await.map(|piece| (piece, ex)) });
    let (content_type, file) = match format {
        Format::Ndjson => ("application/x-ndjson", "audit-log.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "audit-log.csv"),
    };
    let mut res = Body::from_stream(stream).into_response();
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
