//! Platform user administration behind the admin CLI (§2.9). Entries go to the platform log
//! with actor `system` and `metadata.via_cli: true`.

use org_domain::{DomainError, Email, RevokeReason, User, UserId};
use org_ports::{Changeset, RevocationScope, SessionRevocation};
use serde_json::{Value, json};

use crate::record::{Recorder, RequestMeta};
use crate::sessions::{IssuedSession, SessionScope};
use crate::{App, AppError};

fn cli(mut v: Value) -> Value {
    v["via_cli"] = Value::Bool(true);
    v
}

impl App {
    fn parse_email(email: &str) -> Result<Email, AppError> {
        Email::parse(email).map_err(|e| DomainError::from(e).into())
    }

    async fn user_by_email_or_404(&self, email: &str) -> Result<User, AppError> {
        let email = Self::parse_email(email)?;
        self.stores()
            .users
            .user_by_email(&email)
            .await?
            .ok_or_else(AppError::not_found)
    }

    fn new_user(&self, rec: &Recorder<'_>, c: &mut Changeset, email: Email, name: Option<String>, owner: bool) -> User {
        let mut user = User::new(UserId::from_uuid(self.new_uuid()), email, name, rec.now);
        user.is_platform_owner = owner;
        let meta = cli(json!({"email": user.email.as_str(), "via": "cli"}));
        rec.audit(
            c,
            None,
            "user.created",
            Some(("user", user.id.to_string())),
            meta,
            false,
            true,
        );
        c.users.push(user.clone());
        user
    }

    /// `admin create-user`: fails with a duplicate error when the e-mail exists.
    pub async fn admin_create_user(
        &self,
        email: &str,
        name: Option<String>,
        platform_owner: bool,
    ) -> Result<User, AppError> {
        let email = Self::parse_email(email)?;
        let meta = RequestMeta::default();
        let rec = Recorder::system(self, &meta, self.now());
        if self.stores().users.user_by_email(&email).await?.is_some() {
            return Err(AppError::Duplicate("a user with this e-mail already exists".to_owned()));
        }
        let mut c = Changeset::default();
        let mut user = self.new_user(&rec, &mut c, email, name, platform_owner);
        self.commit(c).await.map_err(|e| {
            if e == AppError::Stale {
                AppError::Duplicate("a user with this e-mail already exists".to_owned())
            } else {
                e
            }
        })?;
        user.version = 1;
        Ok(user)
    }

    /// `admin promote` / `admin demote`.
    pub async fn admin_set_platform_owner(&self, email: &str, owner: bool) -> Result<User, AppError> {
        retrying!(self, async {
            let mut user = self.user_by_email_or_404(email).await?;
            if user.is_platform_owner == owner {
                return Ok(user);
            }
            let meta = RequestMeta::default();
            let rec = Recorder::system(self, &meta, self.now());
            user.is_platform_owner = owner;
            user.updated_at = rec.now;
            let action = if owner {
                "platform_owner.granted"
            } else {
                "platform_owner.revoked"
            };
            let mut c = Changeset::default();
            rec.audit(
                &mut c,
                None,
                action,
                Some(("user", user.id.to_string())),
                cli(json!({"email": user.email.as_str()})),
                false,
                true,
            );
            c.users.push(user.clone());
            self.commit(c).await?;
            user.version += 1;
            Ok(user)
        })
    }

    /// `admin disable-user` (revokes every session) / `admin enable-user`.
    pub async fn admin_set_disabled(&self, email: &str, disabled: bool) -> Result<User, AppError> {
        retrying!(self, async {
            let mut user = self.user_by_email_or_404(email).await?;
            if user.disabled_at.is_some() == disabled {
                return Ok(user);
            }
            let meta = RequestMeta::default();
            let rec = Recorder::system(self, &meta, self.now());
            user.disabled_at = disabled.then_some(rec.now);
            user.updated_at = rec.now;
            let mut c = Changeset::default();
            if disabled {
                c.revocations.push(SessionRevocation {
                    scope: RevocationScope::User(user.id),
                    reason: RevokeReason::UserDisabled,
                    at: rec.now,
                });
            }
            let action = if disabled { "user.disabled" } else { "user.enabled" };
            rec.audit(
                &mut c,
                None,
                action,
                Some(("user", user.id.to_string())),
                cli(json!({"email": user.email.as_str()})),
                false,
                true,
            );
            c.users.push(user.clone());
            self.commit(c).await?;
            user.version += 1;
            Ok(user)
        })
    }

    /// `admin issue-token`: creates the user if needed, then a platform or org session.
    pub async fn admin_issue_token(
        &self,
        email: &str,
        org_slug: Option<&str>,
    ) -> Result<(User, IssuedSession), AppError> {
        let email = Self::parse_email(email)?;
        retrying!(self, async {
            let meta = RequestMeta::default();
            let rec = Recorder::system(self, &meta, self.now());
            let mut c = Changeset::default();
            let user = match self.stores().users.user_by_email(&email).await? {
                Some(u) => u,
                None => self.new_user(&rec, &mut c, email.clone(), None, false),
            };
            let scope = match org_slug {
                None => SessionScope::Platform,
                Some(slug) => {
                    let org = self.load_org(slug).await?;
                    let actor = org_domain::Actor {
                        user_id: user.id,
                        is_platform_owner: user.is_platform_owner,
                    };
                    org.select(&actor)?;
                    SessionScope::Org(org.id(), org.slug().clone())
                }
            };
            let session = self.new_session(&user, scope, &meta, rec.now);
            let sid = session.session.id.to_string();
            let metadata = cli(json!({"session_id": sid, "org_slug": session.org_slug.as_ref().map(|s| s.as_str())}));
            rec.audit(
                &mut c,
                None,
                "token.issued",
                Some(("session", sid.clone())),
                metadata,
                false,
                true,
            );
            c.sessions.push(session.session.clone());
            self.commit(c).await?;
            Ok((user, session))
        })
    }
}
