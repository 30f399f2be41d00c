//! Role use cases (§7).

use org_app::AppError;
use org_app::roles::{CreateRole, RoleView, UpdateRole};
use org_domain::{Capability, DomainError, Rule};
use org_ports::PageRequest;

use crate::support::{World, join, meta, missing, not_found, rule, user};

fn role(slug: &str, name: &str, perms: &[&str]) -> CreateRole {
    CreateRole {
        slug: slug.into(),
        name: name.into(),
        description: Some("d".into()),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
    }
}

#[tokio::test]
async fn roles_list_built_ins_first_then_custom_roles() {
    let w = World::new().await;
    let list = w
        .app
        .roles
        .list(&w.admin, &meta(), "acme", PageRequest::new(1, 50))
        .await
        .unwrap();
    let names: Vec<String> = list
        .iter()
        .map(|r| match r {
            RoleView::BuiltIn { role, .. } => role.as_str().to_owned(),
            RoleView::Custom(c) => c.slug().as_str().to_owned(),
        })
        .collect();
    assert_eq!(names, ["owner", "admin", "member", "auditor"]);
    assert_eq!(
        w.app
            .roles
            .list(&w.member, &meta(), "acme", PageRequest::new(1, 50))
            .await
            .unwrap_err(),
        missing(Capability::OrgRolesManage)
    );
    assert!(matches!(
        w.app.roles.get(&w.admin, &meta(), "acme", "role_admin").await.unwrap(),
        RoleView::BuiltIn { .. }
    ));
    assert_eq!(
        w.app
            .roles
            .get(&w.admin, &meta(), "acme", "role_nope")
            .await
            .unwrap_err(),
        not_found()
    );
}

#[tokio::test]
async fn creating_a_role_validates_every_permission_and_uniqueness() {
    let w = World::new().await;
    let err = w
        .app
        .roles
        .create(
            &w.owner,
            &meta(),
            "acme",
            role("ops", "Ops", &["webhooks.manage", "org.everything", "org.delete"]),
        )
        .await
        .unwrap_err();
    let AppError::Domain(DomainError::Validation(errors)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        ["permissions[1]", "permissions[2]"]
    );
    let err = w
        .app
        .roles
        .create(&w.owner, &meta(), "acme", role("admin", "X", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Domain(DomainError::Validation(_))));
    let created = w
        .app
        .roles
        .create(
            &w.owner,
            &meta(),
            "acme",
            role("ops", "Ops", &["webhooks.manage", "webhooks.manage"]),
        )
        .await
        .unwrap();
    assert_eq!(created.permissions().iter().count(), 1, "duplicates collapse");
    assert_eq!(
        w.app
            .roles
            .create(&w.owner, &meta(), "acme", role("ops", "Other", &[]))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::DuplicateRoleSlug)
    );
    assert_eq!(
        w.app
            .roles
            .create(&w.owner, &meta(), "acme", role("ops2", "OPS", &[]))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::DuplicateRoleName)
    );
    let events = w.org_events("acme").await;
    let e = events.iter().rev().find(|e| e.event_type == "role.created").unwrap();
    assert_eq!(e.data["slug"], "ops");
    assert_eq!(e.data["permissions"], serde_json::json!(["webhooks.manage"]));
}

#[tokio::test]
async fn role_writes_follow_the_grant_rule_and_built_ins_are_read_only() {
    let w = World::new().await;
    let lead = user(&w.app, "lead@acme.test").await;
    w.app
        .roles
        .create(
            &w.owner,
            &meta(),
            "acme",
            role("lead", "Lead", &["org.roles.manage", "org.members.manage"]),
        )
        .await
        .unwrap();
    join(&w.app, &w.owner, "acme", &lead, "lead").await;
    assert_eq!(
        w.app
            .roles
            .create(&lead, &meta(), "acme", role("xx", "X", &["audit_logs.view"]))
            .await
            .unwrap_err(),
        rule(Rule::Grant)
    );
    let auditor_id = w
        .app
        .roles
        .list(&w.owner, &meta(), "acme", PageRequest::new(1, 50))
        .await
        .unwrap()
        .into_iter()
        .find_map(|r| match r {
            RoleView::Custom(c) if c.slug().as_str() == "auditor" => Some(c.id().to_string()),
            _ => None,
        })
        .unwrap();
    let rename = UpdateRole {
        name: Some("Readers".into()),
        ..UpdateRole::default()
    };
    assert_eq!(
        w.app
            .roles
            .update(&lead, &meta(), "acme", &auditor_id, rename.clone())
            .await
            .unwrap_err(),
        rule(Rule::Grant)
    );
    assert_eq!(
        w.app
            .roles
            .update(&w.admin, &meta(), "acme", "role_member", rename.clone())
            .await
            .unwrap_err(),
        rule(Rule::BuiltInRole)
    );
    assert_eq!(
        w.app
            .roles
            .delete(&w.admin, &meta(), "acme", "role_owner")
            .await
            .unwrap_err(),
        rule(Rule::BuiltInRole)
    );
    let updated = w
        .app
        .roles
        .update(
            &w.admin,
            &meta(),
            "acme",
            &auditor_id,
            UpdateRole {
                description: Some(None),
                ..rename
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.record().name.as_str(), updated.record().description.is_none()),
        ("Readers", true)
    );
    let noop = w
        .app
        .roles
        .update(&w.admin, &meta(), "acme", &auditor_id, UpdateRole::default())
        .await
        .unwrap();
    assert_eq!(noop.record().name.as_str(), "Readers");
    assert_eq!(w.acme_log().await.iter().filter(|a| *a == "role.updated").count(), 1);
}

#[tokio::test]
async fn a_role_in_use_cannot_be_deleted() {
    let w = World::new().await;
    let list = w
        .app
        .roles
        .list(&w.owner, &meta(), "acme", PageRequest::new(1, 50))
        .await
        .unwrap();
    let RoleView::Custom(auditor) = list.last().unwrap() else {
        panic!()
    };
    let id = auditor.id().to_string();
    let err = w.app.roles.delete(&w.owner, &meta(), "acme", &id).await.unwrap_err();
    assert_eq!(
        err,
        AppError::Domain(DomainError::RoleInUse {
            members: 1,
            invitations: 0
        })
    );
    w.app
        .members
        .change_role(&w.owner, &meta(), "acme", &w.auditor.user.id().to_string(), "member")
        .await
        .unwrap();
    w.app
        .invitations
        .create(&w.owner, &meta(), "acme", "x@x.test", Some("auditor"), None)
        .await
        .unwrap();
    let err = w.app.roles.delete(&w.owner, &meta(), "acme", &id).await.unwrap_err();
    assert_eq!(
        err,
        AppError::Domain(DomainError::RoleInUse {
            members: 0,
            invitations: 1
        })
    );
    let inv = w
        .app
        .invitations
        .list(&w.owner, &meta(), "acme", None, PageRequest::new(1, 5))
        .await
        .unwrap();
    w.app
        .invitations
        .cancel(&w.owner, &meta(), "acme", &inv[0].invitation.record().id.to_string())
        .await
        .unwrap();
    w.app.roles.delete(&w.owner, &meta(), "acme", &id).await.unwrap();
    assert_eq!(
        w.app.roles.get(&w.owner, &meta(), "acme", &id).await.unwrap_err(),
        not_found()
    );
    assert_eq!(
        w.app.roles.delete(&w.owner, &meta(), "acme", &id).await.unwrap_err(),
        not_found()
    );
}
