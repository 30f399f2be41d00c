//! Platform user administration behind the admin CLI (§2.9). Entries go to the platform log
//! with actor `system` and `metadata.via_cli: true`.

use org_domain::{Access, DomainError, DomainEvent, Email, Slug, User, UserId, UserVia};
use org_ports::Changeset;

use crate::AppError;
use crate::record::{Recorder, RequestMeta};
use crate::sessions::{IssuedSession, SessionScope};

service! {
    /// The admin CLI's user commands.
    UserAdmin
}

fn parse_email(email: &str) -> Result<Email, AppError> {
    Email::parse(email).map_err(|e| DomainError::from(e).into())
}

fn duplicate() -> AppError {
    AppError::Duplicate("a user with this e-mail already exists".to_owned())
}

impl UserAdmin {
    async fn by_email(&self, email: &str) -> Result<User, AppError> {
        let email = parse_email(email)?;
        self.core
            .stores
            .users
            .user_by_email(&email)
            .await?
            .ok_or_else(AppError::not_found)
    }

    fn new_user(&self, rec: &Recorder<'_>, c: &mut Changeset, email: Email, name: Option<String>, owner: bool) -> User {
        let id = UserId::from_uuid(self.core.new_uuid());
        let (user, created) = User::create(id, email, name, owner, UserVia::Cli, rec.now);
        rec.record(c, None, None, &[created]);
        c.users.push(user.clone());
        user
    }

    /// `admin create-user`: fails with a duplicate error when the e-mail exists.
    pub async fn create(&self, email: &str, name: Option<String>, platform_owner: bool) -> Result<User, AppError> {
        let email = parse_email(email)?;
        let meta = RequestMeta::cli();
        let rec = Recorder::system(&self.core, &meta, self.core.now());
        if self.core.stores.users.user_by_email(&email).await?.is_some() {
            return Err(duplicate());
        }
        let mut c = Changeset::default();
        let user = self.new_user(&rec, &mut c, email, name, platform_owner);
        self.core
            .commit(c)
            .await
            .map_err(|e| if e == AppError::Stale { duplicate() } else { e })?;
        Ok(user.with_version(1))
    }

    /// Applies one change of a user's flags (`promote`/`demote`, `disable`/`enable`).
    async fn change(
        &self,
        email: &str,
        apply: impl Fn(&mut User, chrono::DateTime<chrono::Utc>) -> Option<DomainEvent>,
    ) -> Result<User, AppError> {
        let core = &self.core;
        core.retry(|| async {
            let mut user = self.by_email(email).await?;
            let meta = RequestMeta::cli();
            let rec = Recorder::system(core, &meta, core.now());
            let Some(event) = apply(&mut user, rec.now) else {
                return Ok(user);
            };
            let mut c = Changeset::default();
            rec.record(&mut c, None, None, &[event]);
            c.users.push(user.clone());
            core.commit(c).await?;
            let version = user.record().version + 1;
            Ok(user.with_version(version))
        })
        .await
    }

    /// `admin promote` / `admin demote`.
    pub async fn set_platform_owner(&self, email: &str, owner: bool) -> Result<User, AppError> {
        self.change(email, |u, now| u.set_platform_owner(owner, now)).await
    }

    /// `admin disable-user` (revokes every session) / `admin enable-user`.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<User, AppError> {
        self.change(email, |u, now| u.set_disabled(disabled, now)).await
    }

    /// `admin issue-token`: creates the user if needed, then a platform or org session.
    pub async fn issue_token(&self, email: &str, org_slug: Option<&str>) -> Result<(User, IssuedSession), AppError> {
        let email = parse_email(email)?;
        let core = &self.core;
        core.retry(|| async {
            let meta = RequestMeta::cli();
            let rec = Recorder::system(core, &meta, core.now());
            let mut c = Changeset::default();
            let user = match core.stores.users.user_by_email(&email).await? {
                Some(u) => u,
                None => self.new_user(&rec, &mut c, email.clone(), None, false),
            };
            let scope = match org_slug {
                None => SessionScope::Platform,
                Some(slug) => {
                    let slug = Slug::parse(slug).map_err(|_| AppError::not_found())?;
                    let ctx = core
                        .stores
                        .orgs
                        .org_context(&slug, user.id())
                        .await?
                        .ok_or_else(AppError::not_found)?;
                    let actor = org_domain::Actor {
                        user_id: user.id(),
                        is_platform_owner: user.is_platform_owner(),
                    };
                    Access::resolve(&ctx.org, actor, ctx.membership.as_ref(), ctx.role.as_ref())?.select()?;
                    SessionScope::Org(ctx.org.id(), ctx.org.slug().clone())
                }
            };
            let session = core.new_session(&user, scope, &meta, rec.now);
            let event = DomainEvent::TokenIssued {
                session_id: session.session.id,
                org_slug: session.org_slug.clone(),
            };
            rec.record(&mut c, None, None, &[event]);
            c.sessions.push(session.session.clone());
            core.commit(c).await?;
            Ok((user.clone(), session))
        })
        .await
    }
}
