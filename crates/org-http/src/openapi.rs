//! The OpenAPI 3.1 document (§21.4), generated from the handlers' `#[utoipa::path]`
//! attributes, plus the conventions every operation shares: the bearer scheme and problem
//! responses under both media types (§1.4).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldErrorDto, ProblemDto};
use crate::routes::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "org-server", description = "Organizations, members, invitations, roles, audit log, webhooks and platform administration."),
    paths(
        refresh, logout, current_user, jwks,
        create_organization, list_organizations, get_organization, update_organization, delete_organization,
        select_organization,
        list_members, update_member_role, remove_member, delete_member, list_member_service_access,
        update_member_service_access, transfer_ownership,
        create_invitation, list_invitations, get_invitation, cancel_invitation, delete_invitation,
        resend_invitation, admin_accept_invitation, list_my_invitations, accept_invitation,
        decline_invitation_by_token, accept_invitation_by_id, decline_invitation, invitation_link,
        list_roles, create_role, get_role, update_role, delete_role,
        list_audit_logs, list_audit_event_types, get_audit_head, export_audit_logs,
        list_webhook_event_types, create_webhook, list_webhooks, get_webhook, update_webhook, delete_webhook,
        list_webhook_deliveries, test_webhook, redeliver_webhook_delivery, rotate_webhook_secret,
        set_smtp, get_smtp, delete_smtp,
        set_oauth_credentials, get_oauth_credentials, delete_oauth_credentials,
        set_billing_credentials, get_billing_credentials, delete_billing_credentials,
        create_scim_token, list_scim_tokens, get_scim_token, revoke_scim_token, delete_scim_token,
        set_custom_domain, get_domain_configuration, verify_custom_domain, delete_custom_domain,
        update_branding, get_branding, get_public_branding,
        get_risk_settings, update_risk_settings, reset_risk_settings, list_risk_events,
        platform_list_organizations, platform_get_organization, platform_update_organization,
        approve_organization, reject_organization, suspend_organization, activate_organization, list_tiers,
        platform_list_audit_logs,
        list_services, create_service, get_service, update_service, delete_service,
        healthz, readyz, metrics, openapi_document,
        list_upstream_providers, get_upstream_provider, create_upstream_provider, update_upstream_provider,
        delete_upstream_provider,
        create_siem_config, list_siem_configs, get_siem_config, update_siem_config, delete_siem_config,
        test_siem_config,
        report_login,
        list_end_users, get_end_user, revoke_end_user_sessions,
    ),
    components(schemas(ProblemDto, FieldErrorDto)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Tokens, sessions and the current user (§2)"),
        (name = "organizations", description = "§4"),
        (name = "members", description = "§5"),
        (name = "invitations", description = "§6"),
        (name = "roles", description = "§7"),
        (name = "audit", description = "§8"),
        (name = "webhooks", description = "§9"),
        (name = "scim", description = "SCIM tokens (§10.1)"),
        (name = "settings", description = "Org settings: OAuth credentials (§12), SMTP (§13), custom domain (§14), branding (§15), billing credentials (§18)"),
        (name = "risk", description = "Risk settings and risk events (§16)"),
        (name = "platform", description = "§20"),
        (name = "services", description = "An org's services (§19.1, §19.2)"),
        (name = "operations", description = "§21"),
        (name = "upstream_providers", description = "Upstream identity providers (§11)"),
        (name = "siem", description = "SIEM streaming (§17)"),
        (name = "end_users", description = "End users (§19.3, §19.4)"),
    )
)]
struct ApiDoc;

struct Conventions;

const PROBLEM_TYPES: [&str; 2] = ["application/json", "application/problem+json"];

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let mut b = ResponseBuilder::new().description(description);
    for ct in PROBLEM_TYPES {
        b = b.content(ct, Content::new(Some(Ref::from_schema_name("Problem"))));
    }
    RefOr::T(b.build())
}

fn standard_errors(path: &str, op: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if op.request_body.is_some() {
        out.push((
            "400",
            "Body is not JSON (BAD_REQUEST) or does not match the schema (VALIDATION_FAILED)",
        ));
        out.push(("413", "Body over 1 MiB (PAYLOAD_TOO_LARGE)"));
        out.push(("415", "Body without a JSON content type (UNSUPPORTED_MEDIA_TYPE)"));
    }
    let takes_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    if takes_query {
        out.push((
            "400",
            "A malformed query parameter, e.g. a non-numeric `page` or `limit` (VALIDATION_FAILED naming it)",
        ));
    }
    if op.security.is_some() {
        out.push((
            "401",
            "No credential (UNAUTHORIZED), invalid token (JWT_ERROR), expired token (TOKEN_EXPIRED), session revoked (UNAUTHORIZED)",
        ));
        out.push((
            "403",
            "Missing capability or rule, token scoped to another org (FORBIDDEN), org not active (ORGANIZATION_NOT_ACTIVE)",
        ));
    }
    if path.starts_with("/api/organizations/{org_slug}") || path.starts_with("/api/platform/organizations/{org_slug}") {
        out.push(("404", "Unknown organization, or one the caller may not see (NOT_FOUND)"));
    }
    out.push(("414", "Request target over 8 KiB (URI_TOO_LONG)"));
    out.push((
        "431",
        "Request header fields over 32 KiB (REQUEST_HEADER_FIELDS_TOO_LARGE)",
    ));
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        out.push(("429", "Rate limited (RATE_LIMITED), with Retry-After"));
    }
    out.push(("500", "Unexpected failure (INTERNAL_SERVER_ERROR)"));
    if path != "/readyz" {
        out.push(("503", "Database unavailable or shutting down (SERVICE_UNAVAILABLE)"));
    }
    out
}

impl Modify for Conventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for (path, item) in &mut api.paths.paths {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for (status, description) in standard_errors(path, op) {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description));
                }
                for (status, response) in &mut op.responses.responses {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if !is_error || (path == "/readyz" && status == "503") {
                        continue;
                    }
                    if let RefOr::T(r) = response
                        && r.content.is_empty()
                    {
                        *response = problem_response(&r.description);
                    }
                }
            }
        }
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a trailing newline (the form committed in `docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
