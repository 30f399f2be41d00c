//! A changeset: everything one use case writes, committed atomically by a [`crate::UnitOfWork`].

use chrono::{DateTime, Utc};
use org_domain::branding::Branding;
use org_domain::credentials::{BillingCredentials, OAuthCredentials};
use org_domain::custom_domain::CustomDomain;
use org_domain::directory::{DirectoryGroup, DirectoryProfile};
use org_domain::login_key::LoginKey;
use org_domain::mail::{Mail, SmtpSettings};
use org_domain::risk::{RiskEvent, RiskSettings};
use org_domain::scim_token::ScimToken;
use org_domain::service::{GrantWrite, Service};
use org_domain::siem::SiemConfig;
use org_domain::webhook::{Delivery, Webhook};
use org_domain::{
    CustomRole, Invitation, Membership, OrgId, Organization, RevokeReason, ScimTokenId, Session, User, UserId,
};

use crate::audit::{AuditDraft, AuditLog, OutboxEvent};

/// Which sessions a revocation covers (§2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationScope {
    /// Every live session whose org context is this org.
    Org(OrgId),
    /// The user's live org sessions of this org (no service sessions).
    MemberOfOrg(OrgId, UserId),
    /// Every live session of the user.
    User(UserId),
    /// Every live session of the service (§2.4 `service_deleted`).
    Service(org_domain::ServiceId),
    /// The user's live service sessions of this org's services (§19.4).
    EndUserOfOrg(OrgId, UserId),
}

/// A bulk revocation, applied inside the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRevocation {
    pub scope: RevocationScope,
    pub reason: RevokeReason,
    pub at: DateTime<Utc>,
}

/// Deletes the oldest entries of one audit log: every entry with `seq <= through_seq`
/// (retention, §8.3). The log's head and the `seq`s of later entries are unchanged, so the
/// remaining chain stays anchored at its first entry's `prev_hash`.
///
/// `count` is how many entries the prune expects to delete (what it read). Any other number —
/// another process pruned that range meanwhile — is a `Conflict(StaleVersion)` and nothing of
/// the commit is written, so each range is pruned, and its `audit.pruned` entry written, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditPrune {
    pub log: AuditLog,
    pub through_seq: u64,
    pub count: u64,
}

/// The writes of one use case. Aggregates with `version == 0` are inserted; others are
/// updated only if the stored version still equals theirs, and stored with `version + 1`.
///
/// An org row is written for its settings, lifecycle and owner; its headcount is never taken
/// from the changeset: the store keeps it from the membership writes of the same commit.
///
/// The order of rows within a field carries no meaning (a transfer may list the promotion
/// before the demotion); the store orders its statements so every constraint holds. Besides
/// the conflicts named on the fields, a commit MUST fail with `Conflict(Unique(OneOwner))` when
/// it would leave a live org with a second owner, an owner the org row does not name, or its
/// owner's membership deleted or demoted; with `Conflict(StaleVersion)` when the org row would
/// name a user who is not an active member; and with `NotFound` when a membership or role
/// names an org or user that does not exist.
#[derive(Clone, Debug, Default)]
pub struct Changeset {
    pub orgs: Vec<Organization>,
    /// Memberships to insert or update (each its own row and version).
    pub memberships: Vec<Membership>,
    /// Memberships to delete, at the version they were loaded with.
    pub removed_memberships: Vec<Membership>,
    /// The member cap this commit's admissions must fit under (§22.3): when set, a commit that
    /// would raise an org's active count above it fails with `Conflict(MemberCap)`.
    pub member_cap: Option<u32>,
    /// Custom roles to insert or update.
    pub roles: Vec<CustomRole>,
    /// Custom roles to delete, at the version they were loaded with. A role a membership still
    /// holds is never deleted (`Conflict(RoleInUse)`).
    pub removed_roles: Vec<CustomRole>,
    pub users: Vec<User>,
    pub invitations: Vec<Invitation>,
    pub sessions: Vec<Session>,
    pub revocations: Vec<SessionRevocation>,
    pub audit: Vec<AuditDraft>,
    /// Prefixes of audit logs to delete, applied before `audit` is appended (so a prune and
    /// the `audit.pruned` entry that records it commit together).
    pub audit_prunes: Vec<AuditPrune>,
    /// Outgoing events; the store fans each out to the org's subscribed endpoints as they stand
    /// after this changeset's `webhooks` writes ([`crate::webhooks::fan_out`]).
    pub events: Vec<OutboxEvent>,
    pub webhooks: Vec<Webhook>,
    /// Deliveries written explicitly (test pings, redeliveries, attempt results).
    pub deliveries: Vec<Delivery>,
    /// SCIM tokens to insert or update.
    pub scim_tokens: Vec<ScimToken>,
    /// SCIM tokens to delete, at the version they were loaded with.
    pub removed_scim_tokens: Vec<ScimToken>,
    /// Uses of SCIM tokens: `last_used_at` is set to the time unless it is already later. A
    /// blind write: it bumps no version and conflicts with nothing.
    pub scim_token_uses: Vec<(ScimTokenId, DateTime<Utc>)>,
    /// Directory profiles to insert or update. A profile goes when its membership goes (in the
    /// same commit). `Conflict(Unique(DirectoryUserName))` when another profile of the org has
    /// the same `userName` key.
    pub profiles: Vec<DirectoryProfile>,
    /// Directory data of role groups to insert or update; it goes when its role goes.
    pub directory_groups: Vec<DirectoryGroup>,
    /// SMTP settings to insert or update (one row per org: inserting settings for an org that
    /// already has them is a `Conflict(StaleVersion)`, so a racing first upsert retries).
    pub smtp: Vec<SmtpSettings>,
    /// SMTP settings to delete, at the version they were loaded with.
    pub removed_smtp: Vec<SmtpSettings>,
    /// Outbox mails to insert or update (attempt results).
    pub mails: Vec<Mail>,
    /// Brandings to insert or update (one row per org, keyed by the org). A `version == 0`
    /// write over a stored row is `Conflict(StaleVersion)`, not a duplicate id: a racing
    /// first write, decided again on the stored row.
    pub brandings: Vec<Branding>,
    /// Domain claims to insert or update (one row per org, keyed by the org; replacing the
    /// domain updates the row; a first write over a stored row is `Conflict(StaleVersion)`).
    /// `Conflict(Unique(VerifiedDomain))` when another org's row holds the same domain verified.
    pub custom_domains: Vec<CustomDomain>,
    /// Domain claims to delete, at the version they were loaded with (any org's: a
    /// verification clears the others', §14).
    pub removed_custom_domains: Vec<CustomDomain>,
    /// OAuth credentials to insert or update (one row per org and provider: a `version == 0`
    /// write for a pair that has a row is `Conflict(StaleVersion)`, so a racing first upsert
    /// retries on the stored row).
    pub oauth_credentials: Vec<OAuthCredentials>,
    /// OAuth credentials to delete, at the version they were loaded with.
    pub removed_oauth_credentials: Vec<OAuthCredentials>,
    /// Billing credentials to insert or update (one row per org and provider, as
    /// `oauth_credentials`).
    pub billing_credentials: Vec<BillingCredentials>,
    /// Billing credentials to delete, at the version they were loaded with.
    pub removed_billing_credentials: Vec<BillingCredentials>,
    /// Deleted orgs to purge (§4.9): every row of the org goes (members, roles, invitations,
    /// sessions, webhooks and deliveries, SCIM tokens, directory data, SMTP settings and mails, branding and domain claim, OAuth and billing credentials, risk settings and risk events,
    /// its audit log and event
    /// stream) with the org row itself. An org that is not deleted is left alone.
    pub org_purges: Vec<OrgId>,
    /// Risk settings to insert or update (one row per org, keyed by the org, inserted with
    /// the org: a `version == 0` write over a stored row is `Conflict(StaleVersion)`; `NotFound`
    /// when the org does not exist). They go when their org is purged.
    pub risk_settings: Vec<RiskSettings>,
    /// Recorded, scored logins to insert (§16.4, §19.5); never updated. An existing id is
    /// `Conflict(Unique(Id))`; `NotFound` when the org does not exist. They go when their org
    /// is purged.
    pub risk_events: Vec<RiskEvent>,
    /// Services to insert or update (§19). `Conflict(Unique(ServiceSlug))` when another
    /// service of the org has the slug. The store keeps each org's service count from these
    /// inserts and `removed_services`, never from a changeset.
    pub services: Vec<Service>,
    /// Services to delete, at the version they were loaded with; their member grants go with
    /// them (as a membership's grants go with a removed membership).
    pub removed_services: Vec<Service>,
    /// The service cap this commit's new services must fit under (§22.3): when set, a commit
    /// that would raise an org's kept service count above it fails with `Conflict(ServiceCap)`,
    /// decided on the count as locked by this commit (concurrent creates never pass it together).
    pub service_cap: Option<u32>,
    /// Member grants to set (`access: Some`) or remove (`None`): blind writes keyed by
    /// (service, user). A grant naming a service that is gone is `NotFound`.
    pub service_grants: Vec<GrantWrite>,
    /// Login keys to insert or update (revocations). `Conflict(Unique(LoginKeyName))` when a
    /// live key has the name.
    pub login_keys: Vec<LoginKey>,
    /// Upstream identity providers to insert or update (§11).
    /// `Conflict(Unique(ConnectionId))` when another provider of the org has the same
    /// `connection_id`. A purged org's providers go with it.
    pub upstream_providers: Vec<org_domain::upstream::UpstreamProvider>,
    /// Upstream providers to delete, at the version they were loaded with.
    pub removed_upstream_providers: Vec<org_domain::upstream::UpstreamProvider>,
    /// SIEM configs to insert or update (§17). `Conflict(Unique(SiemConfigName))` when another
    /// config of the org has the name. An insert stores the config's progress; an update never
    /// changes the stored progress (only `siem_progress` does).
    pub siem_configs: Vec<SiemConfig>,
    /// SIEM configs to delete, at the version they were loaded with.
    pub removed_siem_configs: Vec<SiemConfig>,
    /// Streaming progress of SIEM configs (compare-and-set on the cursor, see
    /// [`crate::SiemProgressWrite`]).
    pub siem_progress: Vec<crate::SiemProgressWrite>,
    /// Identities issued through an org (§19.5): inserted unless the org already has the
    /// `(provider, provider_key)` (then left as stored). They go when their org is purged.
    pub login_identities: Vec<org_domain::login::LoginIdentity>,
    /// Successful service logins of end users: per (org, user) the first is kept as when the
    /// user became an end user, the latest as `last_login_at`. `NotFound` when the org or user
    /// does not exist. They go when their org is purged.
    pub end_user_logins: Vec<org_domain::login::EndUserLogin>,
    /// The MAU cap `end_user_logins` must fit under (§22.3): `Conflict(MauCap)` otherwise.
    pub mau_cap: Option<org_domain::login::MauCap>,
}

impl Changeset {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
            && self.memberships.is_empty()
            && self.removed_memberships.is_empty()
            && self.roles.is_empty()
            && self.removed_roles.is_empty()
            && self.users.is_empty()
            && self.invitations.is_empty()
            && self.sessions.is_empty()
            && self.revocations.is_empty()
            && self.audit.is_empty()
            && self.audit_prunes.is_empty()
            && self.events.is_empty()
            && self.webhooks.is_empty()
            && self.deliveries.is_empty()
            && self.scim_tokens.is_empty()
            && self.removed_scim_tokens.is_empty()
            && self.scim_token_uses.is_empty()
            && self.profiles.is_empty()
            && self.directory_groups.is_empty()
            && self.smtp.is_empty()
            && self.removed_smtp.is_empty()
            && self.mails.is_empty()
            && self.brandings.is_empty()
            && self.custom_domains.is_empty()
            && self.removed_custom_domains.is_empty()
            && self.oauth_credentials.is_empty()
            && self.removed_oauth_credentials.is_empty()
            && self.billing_credentials.is_empty()
            && self.removed_billing_credentials.is_empty()
            && self.org_purges.is_empty()
            && self.risk_settings.is_empty()
            && self.risk_events.is_empty()
            && self.services.is_empty()
            && self.removed_services.is_empty()
            && self.service_grants.is_empty()
            && self.login_keys.is_empty()
            && self.upstream_providers.is_empty()
            && self.removed_upstream_providers.is_empty()
            && self.siem_configs.is_empty()
            && self.removed_siem_configs.is_empty()
            && self.siem_progress.is_empty()
            && self.login_identities.is_empty()
            && self.end_user_logins.is_empty()
    }
}
