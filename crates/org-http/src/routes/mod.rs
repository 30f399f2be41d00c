//! The route table: every (method, path) is registered once, here, so the router and the
//! OpenAPI completeness test read the same list.

mod audit;
mod credentials;
mod end_users;
mod invitations;
mod logins;
mod members;
mod ops;
mod orgs;
mod platform;
mod risk;
mod roles;
mod scim_tokens;
mod services;
mod session;
mod settings;
mod siem;
mod smtp;
mod upstream;
mod webhooks;

use axum::Router;
use axum::handler::Handler;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde::Serialize;

pub(crate) use audit::*;
pub(crate) use credentials::*;
pub(crate) use end_users::*;
pub(crate) use invitations::*;
pub(crate) use logins::*;
pub(crate) use members::*;
pub(crate) use ops::*;
pub(crate) use orgs::*;
pub(crate) use platform::*;
pub(crate) use risk::*;
pub(crate) use roles::*;
pub(crate) use scim_tokens::*;
pub(crate) use services::*;
pub(crate) use session::*;
pub(crate) use settings::*;
pub(crate) use siem::*;
pub(crate) use smtp::*;
pub(crate) use upstream::*;
pub(crate) use webhooks::*;

use crate::state::HttpState;

/// The router under construction and the table of what it serves.
struct Routes {
    router: Router<HttpState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, HttpState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            _ => MethodFilter::DELETE,
        };
        self.router = self.router.route(path, on(filter, handler));
        self.table.push((method, path));
        self
    }
}

fn routes(serve_metrics: bool) -> Routes {
    let r = Routes {
        router: Router::new(),
        table: Vec::new(),
    };
    let r = r
        // §2
        .add("POST", "/api/auth/refresh", session::refresh)
        .add("POST", "/api/auth/logout", session::logout)
        .add("GET", "/api/user", session::current_user)
        .add("GET", "/.well-known/jwks.json", session::jwks)
        // §4
        .add("POST", "/api/organizations", orgs::create_organization)
        .add("GET", "/api/organizations", orgs::list_organizations)
        .add("GET", "/api/organizations/{org_slug}", orgs::get_organization)
        .add("PATCH", "/api/organizations/{org_slug}", orgs::update_organization)
        .add("DELETE", "/api/organizations/{org_slug}", orgs::delete_organization)
        .add(
            "POST",
            "/api/organizations/{org_slug}/select",
            orgs::select_organization,
        )
        // §5
        .add("GET", "/api/organizations/{org_slug}/members", members::list_members)
        .add(
            "PATCH",
            "/api/organizations/{org_slug}/members/{user_id}",
            members::update_member_role,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/members/{user_id}",
            members::remove_member,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/members/{user_id}",
            members::delete_member,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/members/{user_id}/service-access",
            members::list_member_service_access,
        )
        .add(
            "PUT",
            "/api/organizations/{org_slug}/members/{user_id}/service-access",
            members::update_member_service_access,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/transfer-ownership",
            members::transfer_ownership,
        )
        // §6 org side
        .add(
            "POST",
            "/api/organizations/{org_slug}/invitations",
            invitations::create_invitation,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/invitations",
            invitations::list_invitations,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/invitations/{id}",
            invitations::get_invitation,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/invitations/{id}",
            invitations::cancel_invitation,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/invitations/{id}",
            invitations::delete_invitation,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/invitations/{id}/resend",
            invitations::resend_invitation,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/invitations/{id}/accept",
            invitations::admin_accept_invitation,
        )
        // §6 invitee side
        .add("GET", "/api/invitations", invitations::list_my_invitations)
        .add("POST", "/api/invitations/accept", invitations::accept_invitation)
        .add(
            "POST",
            "/api/invitations/decline",
            invitations::decline_invitation_by_token,
        )
        .add(
            "POST",
            "/api/invitations/{id}/accept",
            invitations::accept_invitation_by_id,
        )
        .add("POST", "/api/invitations/{id}/decline", invitations::decline_invitation)
        .add("GET", "/invitations/accept/{token}", invitations::invitation_link)
        // §7
        .add("GET", "/api/organizations/{org_slug}/roles", roles::list_roles)
        .add("POST", "/api/organizations/{org_slug}/roles", roles::create_role)
        .add("GET", "/api/organizations/{org_slug}/roles/{role_id}", roles::get_role)
        .add(
            "PUT",
            "/api/organizations/{org_slug}/roles/{role_id}",
            roles::update_role,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/roles/{role_id}",
            roles::delete_role,
        )
        // §8
        .add("GET", "/api/organizations/{org_slug}/audit-log", audit::list_audit_logs)
        .add(
            "GET",
            "/api/organizations/{org_slug}/audit-log/event-types",
            audit::list_audit_event_types,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/audit-log/head",
            audit::get_audit_head,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/audit-log/export",
            audit::export_audit_logs,
        )
        // §9 (the static `event-types` wins over `{id}`, §1.1)
        .add(
            "GET",
            "/api/organizations/{org_slug}/webhooks/event-types",
            webhooks::list_webhook_event_types,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/webhooks",
            webhooks::create_webhook,
        )
        .add("GET", "/api/organizations/{org_slug}/webhooks", webhooks::list_webhooks)
        .add(
            "GET",
            "/api/organizations/{org_slug}/webhooks/{id}",
            webhooks::get_webhook,
        )
        .add(
            "PATCH",
            "/api/organizations/{org_slug}/webhooks/{id}",
            webhooks::update_webhook,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/webhooks/{id}",
            webhooks::delete_webhook,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/webhooks/{id}/deliveries",
            webhooks::list_webhook_deliveries,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/webhooks/{id}/test",
            webhooks::test_webhook,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            webhooks::redeliver_webhook_delivery,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/webhooks/{id}/rotate-secret",
            webhooks::rotate_webhook_secret,
        )
        // §13
        .add("POST", "/api/organizations/{org_slug}/smtp", smtp::set_smtp)
        .add("GET", "/api/organizations/{org_slug}/smtp", smtp::get_smtp)
        .add("DELETE", "/api/organizations/{org_slug}/smtp", smtp::delete_smtp)
        // §12
        .add(
            "POST",
            "/api/organizations/{org_slug}/oauth-credentials/{provider}",
            credentials::set_oauth_credentials,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/oauth-credentials/{provider}",
            credentials::get_oauth_credentials,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/oauth-credentials/{provider}",
            credentials::delete_oauth_credentials,
        )
        // §18
        .add(
            "POST",
            "/api/organizations/{org_slug}/billing-credentials/{provider}",
            credentials::set_billing_credentials,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/billing-credentials/{provider}",
            credentials::get_billing_credentials,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/billing-credentials/{provider}",
            credentials::delete_billing_credentials,
        )
        // §10.1
        .add(
            "POST",
            "/api/organizations/{org_slug}/scim-tokens",
            scim_tokens::create_scim_token,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/scim-tokens",
            scim_tokens::list_scim_tokens,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/scim-tokens/{id}",
            scim_tokens::get_scim_token,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/scim-tokens/{id}/revoke",
            scim_tokens::revoke_scim_token,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/scim-tokens/{id}",
            scim_tokens::delete_scim_token,
        )
        // §14
        .add(
            "POST",
            "/api/organizations/{org_slug}/domain",
            settings::set_custom_domain,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/domain",
            settings::get_domain_configuration,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/domain",
            settings::delete_custom_domain,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/domain/verify",
            settings::verify_custom_domain,
        )
        // §15 (the static `public` is its own route)
        .add(
            "PATCH",
            "/api/organizations/{org_slug}/branding",
            settings::update_branding,
        )
        .add("GET", "/api/organizations/{org_slug}/branding", settings::get_branding)
        .add(
            "GET",
            "/api/organizations/{org_slug}/branding/public",
            settings::get_public_branding,
        )
        // §16
        .add(
            "GET",
            "/api/organizations/{org_slug}/risk-settings",
            risk::get_risk_settings,
        )
        .add(
            "PUT",
            "/api/organizations/{org_slug}/risk-settings",
            risk::update_risk_settings,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/risk-settings/reset",
            risk::reset_risk_settings,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/risk-events",
            risk::list_risk_events,
        )
        // §20
        .add(
            "GET",
            "/api/platform/organizations",
            platform::platform_list_organizations,
        )
        .add(
            "GET",
            "/api/platform/organizations/{org_slug}",
            platform::platform_get_organization,
        )
        .add(
            "PATCH",
            "/api/platform/organizations/{org_slug}",
            platform::platform_update_organization,
        )
        .add(
            "POST",
            "/api/platform/organizations/{org_slug}/approve",
            platform::approve_organization,
        )
        .add(
            "POST",
            "/api/platform/organizations/{org_slug}/reject",
            platform::reject_organization,
        )
        .add(
            "POST",
            "/api/platform/organizations/{org_slug}/suspend",
            platform::suspend_organization,
        )
        .add(
            "POST",
            "/api/platform/organizations/{org_slug}/activate",
            platform::activate_organization,
        )
        // §19.2
        .add("GET", "/api/organizations/{org_slug}/services", services::list_services)
        .add(
            "POST",
            "/api/organizations/{org_slug}/services",
            services::create_service,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/services/{service_slug}",
            services::get_service,
        )
        .add(
            "PATCH",
            "/api/organizations/{org_slug}/services/{service_slug}",
            services::update_service,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/services/{service_slug}",
            services::delete_service,
        )
        .add("GET", "/api/platform/tiers", platform::list_tiers)
        .add("GET", "/api/platform/audit-log", audit::platform_list_audit_logs)
        // §17
        .add(
            "POST",
            "/api/organizations/{org_slug}/siem-configs",
            siem::create_siem_config,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/siem-configs",
            siem::list_siem_configs,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/siem-configs/{id}",
            siem::get_siem_config,
        )
        .add(
            "PUT",
            "/api/organizations/{org_slug}/siem-configs/{id}",
            siem::update_siem_config,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/siem-configs/{id}",
            siem::delete_siem_config,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/siem-configs/{id}/test",
            siem::test_siem_config,
        )
        // §21
        .add("GET", "/healthz", ops::healthz)
        .add("GET", "/readyz", ops::readyz)
        .add("GET", "/openapi.json", ops::openapi_document)
        // §11
        .add(
            "GET",
            "/api/organizations/{org_slug}/upstream-providers",
            upstream::list_upstream_providers,
        )
        .add(
            "POST",
            "/api/organizations/{org_slug}/upstream-providers",
            upstream::create_upstream_provider,
        )
        .add(
            "GET",
            "/api/organizations/{org_slug}/upstream-providers/{id}",
            upstream::get_upstream_provider,
        )
        .add(
            "PATCH",
            "/api/organizations/{org_slug}/upstream-providers/{id}",
            upstream::update_upstream_provider,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/upstream-providers/{id}",
            upstream::delete_upstream_provider,
        )
        // §19.5
        .add("POST", "/api/platform/logins", logins::report_login)
        // §19.3–§19.4
        .add("GET", "/api/organizations/{org_slug}/users", end_users::list_end_users)
        .add(
            "GET",
            "/api/organizations/{org_slug}/users/{user_id}",
            end_users::get_end_user,
        )
        .add(
            "DELETE",
            "/api/organizations/{org_slug}/users/{user_id}/sessions",
            end_users::revoke_end_user_sessions,
        );
    if serve_metrics {
        r.add("GET", "/metrics", ops::metrics)
    } else {
        r
    }
}

/// Every (method, path template) the router serves, in registration order.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes(true).table
}

/// The routes, without state and layers.
pub(crate) fn router(serve_metrics: bool) -> Router<HttpState> {
    routes(serve_metrics).router.merge(crate::scim::router())
}

/// The `/metrics` route alone (for `metrics.listen`).
pub(crate) fn metrics_only() -> Router<HttpState> {
    Router::new().route("/metrics", axum::routing::get(ops::metrics))
}

// ---------------------------------------------------------------- response helpers

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize>(body: T) -> Response {
    axum::Json(body).into_response()
}

/// 200 with the JSON literal `null` (compat, §1.3).
pub(crate) fn null() -> Response {
    axum::Json(serde_json::Value::Null).into_response()
}

/// 201 with an absolute `Location`.
pub(crate) fn created<T: Serialize>(state: &HttpState, path: &str, body: T) -> Response {
    let mut res = (StatusCode::CREATED, axum::Json(body)).into_response();
    let location = format!("{}{path}", state.config().base_url());
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// Adds `X-Next-Cursor` when there is a next page (§1.6).
pub(crate) fn with_next_cursor(mut res: Response, next: Option<&str>) -> Response {
    if let Some(v) = next.and_then(|n| HeaderValue::from_str(n).ok()) {
        res.headers_mut().insert("x-next-cursor", v);
    }
    res
}

/// Marks a response carrying tokens or secrets `Cache-Control: no-store` (§1.3).
pub(crate) fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
