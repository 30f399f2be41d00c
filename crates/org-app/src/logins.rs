//! `POST /api/platform/logins` (§19.5): the platform's login front-end reports a login and
//! obtains a session. Every step — the user (found or created), the admin-login membership
//! check, the MAU cap (§22.3), the identity that makes the user an end user, the risk score
//! (§16.3, on the bounded history of [`org_ports::LoginRepository::login_history`]), the
//! decision and the session — commits in one changeset with its webhooks and audit entries.
//!
//! The one exception to §1.7: a login refused by the MAU cap commits only the attempt (a
//! failed login, `failure_reason: "mau_limit"`, and `user.login.failed`), then answers 400.

use chrono::{DateTime, Utc};
use org_domain::login::{
    EndUserLogin, LoginDecision, LoginEvent, LoginIdentity, LoginReport, MAU_FAILURE_REASON, MAU_WINDOW, MauCap,
    RawLoginReport,
};
use org_domain::risk::{
    LoginFacts, NEW_DEVICE_WINDOW, RiskAction, RiskAssessment, RiskEvent, RiskEventId, VELOCITY_WINDOW,
};
use org_domain::service::{Service, ServiceSlug};
use org_domain::{DomainError, DomainEvent, OrgStatus, Organization, Slug, User, UserId, UserVia};
use org_ports::{Changeset, HistoryQuery, LoginSubject};

use crate::core::Core;
use crate::record::{Caller, Recorder, RequestMeta};
use crate::risk::{assess_login, device_key, record_login};
use crate::sessions::{IssuedSession, SessionScope};
use crate::{AppError, LoginKeyCaller};

service! {
    /// Login reports (§19.5).
    LoginService
}

/// Who reports: a login key, or a platform owner's bearer.
#[derive(Clone, Debug)]
pub enum LoginReporter {
    Key(LoginKeyCaller),
    Owner(Box<Caller>),
}

/// The answer of a login report.
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    pub user: Option<User>,
    pub decision: LoginDecision,
    pub risk: Option<RiskAssessment>,
    pub session: Option<IssuedSession>,
}

/// The org context of a report.
struct Target {
    org: Organization,
    service: Option<Service>,
}

impl LoginService {
    /// Reports a login (§19.5). A bearer that is not a platform owner's → 403.
    pub async fn report(
        &self,
        reporter: &LoginReporter,
        meta: &RequestMeta,
        raw: RawLoginReport,
    ) -> Result<LoginOutcome, AppError> {
        if let LoginReporter::Owner(caller) = reporter
            && !caller.user.is_platform_owner()
        {
            return Err(DomainError::LoginForbidden("only a login key or a platform owner may report logins").into());
        }
        let report = LoginReport::check(raw)?;
        let core = &self.core;
        let report = &report;
        core.retry(|| async move { self.attempt(reporter, meta, report).await })
            .await
    }

    fn recorder<'a>(&'a self, reporter: &LoginReporter, meta: &'a RequestMeta, now: DateTime<Utc>) -> Recorder<'a> {
        match reporter {
            LoginReporter::Key(key) => Recorder::for_login_key(&self.core, meta, key.id, now),
            LoginReporter::Owner(caller) => Recorder::for_caller(&self.core, meta, caller, now),
        }
    }

    async fn target(&self, report: &LoginReport) -> Result<Option<Target>, AppError> {
        let core: &Core = &self.core;
        let Some(slug) = &report.org_slug else { return Ok(None) };
        let slug = Slug::parse(slug).map_err(|_| AppError::not_found())?;
        let org = core
            .stores
            .orgs
            .org_by_slug(&slug)
            .await?
            .filter(|o| !o.is_deleted())
            .ok_or_else(AppError::not_found)?;
        if org.status() != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(org.status()).into());
        }
        let service = match &report.service_slug {
            None => None,
            Some(s) => {
                let s = ServiceSlug::parse(s).map_err(|_| AppError::not_found())?;
                let service = core
                    .stores
                    .services
                    .service_by_slug(org.id(), &s)
                    .await?
                    .ok_or_else(AppError::not_found)?;
                if !service.is_enabled() {
                    return Err(DomainError::LoginForbidden("the service is disabled").into());
                }
                Some(service)
            }
        };
        Ok(Some(Target { org, service }))
    }

    async fn attempt(
        &self,
        reporter: &LoginReporter,
        meta: &RequestMeta,
        report: &LoginReport,
    ) -> Result<LoginOutcome, AppError> {
        let core: &Core = &self.core;
        let now = core.now();
        let target = self.target(report).await?;
        let org_id = target.as_ref().map(|t| t.org.id());
        let service = target.as_ref().and_then(|t| t.service.as_ref());
        let service_id = service.map(Service::id);
        let rec = self.recorder(reporter, meta, now);
        let mut c = Changeset::default();
        let mut events = Vec::new();

        // Step 2: the user.
        let stored = core.stores.users.user_by_email(&report.email).await?;
        if stored.as_ref().is_some_and(|u| !u.is_enabled()) {
            return Err(DomainError::LoginForbidden("the user is disabled").into());
        }
        let mut new_user = None;
        let user = match stored {
            Some(u) => Some(u),
            None if report.success => {
                let id = UserId::from_uuid(core.new_uuid());
                let (u, created) = User::create(
                    id,
                    report.email.clone(),
                    report.name.clone(),
                    false,
                    UserVia::Login,
                    now,
                );
                new_user = Some((u.clone(), created));
                Some(u)
            }
            None => None,
        };

        // Step 3: an admin login to the org.
        if let (Some(t), None, Some(u)) = (&target, service, &user)
            && !u.is_platform_owner()
        {
            let member = core.stores.members.membership(t.org.id(), u.id()).await?;
            if !member.is_some_and(|m| m.is_active()) {
                return Err(DomainError::LoginForbidden("the user is not a member of this organization").into());
            }
        }

        // Step 4: the MAU cap, then the identity.
        if let (Some(t), Some(svc), Some(u), true) = (&target, service, &user, report.success) {
            let features = core.features(&t.org);
            let since = now - MAU_WINDOW;
            if features.max_mau > 0 && !features.allow_overage {
                let cap = u64::try_from(features.max_mau).unwrap_or(u64::MAX);
                let active = new_user.is_none()
                    && core
                        .stores
                        .logins
                        .end_user(t.org.id(), u.id())
                        .await?
                        .is_some_and(|e| e.last_login_at >= since);
                if !active && core.stores.logins.mau_count(t.org.id(), since).await? >= cap {
                    let known = new_user.is_none().then(|| u.id());
                    self.refuse_for_mau(&rec, t, svc, known, report, now).await?;
                    return Err(DomainError::MauLimitExceeded(cap).into());
                }
                c.mau_cap = Some(MauCap {
                    org_id: t.org.id(),
                    cap,
                    since,
                });
            }
            c.end_user_logins.push(EndUserLogin {
                org_id: t.org.id(),
                user_id: u.id(),
                service_id: Some(svc.id()),
                at: now,
            });
            c.login_identities.push(LoginIdentity {
                org_id: t.org.id(),
                user_id: u.id(),
                provider: report.provider.clone(),
                provider_key: report.provider_user_id.clone().unwrap_or_else(|| u.id().to_string()),
                service_id: Some(svc.id()),
                created_at: now,
            });
        }
        if let Some((u, created)) = new_user {
            rec.record(&mut c, None, None, &[created]);
            if org_id.is_some() {
                events.push(DomainEvent::Login(LoginEvent::SignedUp {
                    user_id: u.id(),
                    email: u.email().clone(),
                    service_id,
                }));
            }
            c.users.push(u);
        }

        // Step 5: scoring and the login record.
        let mut risk = None;
        if let Some(t) = &target {
            let (assessment, event) = self.score(t, service, user.as_ref(), report, now).await?;
            if assessment.flagged {
                events.push(DomainEvent::Login(LoginEvent::Flagged {
                    login_event_id: event.id,
                    user_id: event.user_id,
                    user_email: event.user_email.clone(),
                    service_id,
                    risk_score: assessment.score,
                    risk_factors: assessment.factors.clone(),
                    risk_action: assessment.action,
                    ip_address: event.ip_address.clone(),
                }));
            }
            record_login(&mut c, event);
            risk = Some(assessment);
        }

        // Step 6: the decision; step 7: the session.
        let action = risk.as_ref().map_or(RiskAction::Allow, |r| r.action);
        let decision = LoginDecision::of(report.success, action, report.mfa_verified);
        let mut session = None;
        if let (LoginDecision::Allow, true, Some(u)) = (decision, report.issue_session, &user) {
            let scope = match (&target, service) {
                (Some(t), Some(s)) => {
                    SessionScope::Service(t.org.id(), t.org.slug().clone(), s.id(), s.slug().as_str().to_owned())
                }
                (Some(t), None) => SessionScope::Org(t.org.id(), t.org.slug().clone()),
                (None, _) => SessionScope::Platform,
            };
            let issued = core.new_session(u, scope, meta, now);
            c.sessions.push(issued.session.clone());
            session = Some(issued);
        }
        match (decision, &user) {
            (LoginDecision::Allow, Some(u)) => events.push(DomainEvent::Login(LoginEvent::Succeeded {
                user_id: u.id(),
                service_id,
                provider: report.provider.clone(),
                session_id: session.as_ref().map(|s| s.session.id),
            })),
            (LoginDecision::Failed | LoginDecision::Block, _) => events.push(DomainEvent::Login(LoginEvent::Failed {
                user_id: user.as_ref().map(User::id),
                email: report.email.clone(),
                service_id,
                provider: report.provider.clone(),
                failure_reason: report.failure_reason.clone(),
                risk_action: risk.as_ref().map(|r| r.action),
            })),
            _ => {}
        }
        if let Some(org) = org_id {
            rec.record(&mut c, Some(org), None, &events);
        }
        core.commit(c).await?;
        Ok(LoginOutcome {
            user,
            decision,
            risk,
            session,
        })
    }

    /// Scores the login against the org's policy on its bounded history (§16.3).
    async fn score(
        &self,
        t: &Target,
        service: Option<&Service>,
        user: Option<&User>,
        report: &LoginReport,
        now: DateTime<Utc>,
    ) -> Result<(RiskAssessment, RiskEvent), AppError> {
        let core: &Core = &self.core;
        let settings = core.risk_settings_of(&t.org).await?;
        let policy = *settings.policy();
        let key = device_key(report.device_id.as_deref(), report.user_agent.as_deref());
        let subject = match user {
            Some(u) => LoginSubject::User(u.id()),
            None => LoginSubject::Email(report.email.as_str().to_owned()),
        };
        let query = HistoryQuery {
            device_key: key.clone(),
            device_since: now - NEW_DEVICE_WINDOW,
            velocity_since: now - VELOCITY_WINDOW,
            velocity_limit: u32::from(policy.velocity_threshold.saturating_sub(1)),
        };
        let history: Vec<_> = core
            .stores
            .logins
            .login_history(t.org.id(), &subject, &query)
            .await?
            .iter()
            .map(RiskEvent::as_past_login)
            .collect();
        let facts = LoginFacts {
            at: now,
            has_user: user.is_some(),
            device_key: key.clone(),
            geo: report.point(),
        };
        let assessment = assess_login(&facts, &history, &policy);
        let event = self.login_row(t, service, user.map(User::id), report, key, &assessment, now);
        Ok((assessment, event))
    }

    #[allow(clippy::too_many_arguments)]
    fn login_row(
        &self,
        t: &Target,
        service: Option<&Service>,
        user: Option<UserId>,
        report: &LoginReport,
        key: Option<org_domain::risk::DeviceKey>,
        assessment: &RiskAssessment,
        now: DateTime<Utc>,
    ) -> RiskEvent {
        RiskEvent {
            id: RiskEventId::from_uuid(self.core.new_uuid()),
            org_id: t.org.id(),
            user_id: user,
            user_email: report.email.as_str().to_owned(),
            service_id: service.map(|s| s.id().as_uuid()),
            created_at: now,
            success: report.success,
            risk_score: assessment.score,
            risk_factors: assessment.factors.clone(),
            risk_action: assessment.action,
            geo_country: report.geo_country.clone(),
            geo_city: report.geo_city.clone(),
            geo_lat: report.geo_lat,
            geo_long: report.geo_long,
            ip_address: report.ip_address.clone(),
            user_agent: report.user_agent.clone(),
            device_key: key,
            provider: report.provider.clone(),
            failure_reason: report.failure_reason.clone(),
        }
    }

    /// The MAU refusal (§19.5 step 4): only the attempt commits, as a failed login.
    async fn refuse_for_mau(
        &self,
        rec: &Recorder<'_>,
        t: &Target,
        service: &Service,
        user: Option<UserId>,
        report: &LoginReport,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let failed = LoginReport {
            success: false,
            failure_reason: Some(MAU_FAILURE_REASON.to_owned()),
            ..report.clone()
        };
        let unscored = RiskAssessment {
            score: 0,
            factors: Vec::new(),
            action: RiskAction::Allow,
            flagged: false,
        };
        let key = device_key(report.device_id.as_deref(), report.user_agent.as_deref());
        let event = self.login_row(t, Some(service), user, &failed, key, &unscored, now);
        let mut c = Changeset::default();
        let failed_event = DomainEvent::Login(LoginEvent::Failed {
            user_id: user,
            email: report.email.clone(),
            service_id: Some(service.id()),
            provider: report.provider.clone(),
            failure_reason: Some(MAU_FAILURE_REASON.to_owned()),
            risk_action: None,
        });
        rec.record(&mut c, Some(t.org.id()), None, &[failed_event]);
        record_login(&mut c, event);
        self.core.commit(c).await
    }
}
