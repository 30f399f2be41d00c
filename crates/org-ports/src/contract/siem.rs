//! Contract checks of SIEM configs (§17): rows, name uniqueness, config writes never touching
//! progress, progress as a compare-and-set on the cursor, and the streaming list.

use std::sync::Arc;

use org_domain::siem::{SiemConfig, SiemConfigRecord, SiemProgress, SiemProvider};
use org_domain::{OrgId, SiemConfigId};

use super::{cs, seeded, t, uuid};
use crate::{Changeset, ConflictKind, SiemProgressWrite, Store, StoreError, UniqueKey};

fn config(org: OrgId, name: &str, enabled: bool) -> SiemConfig {
    SiemConfig::restore(SiemConfigRecord {
        id: SiemConfigId::from_uuid(uuid()),
        org_id: org,
        name: name.to_owned(),
        provider: SiemProvider::Datadog,
        endpoint_url: "https://intake.example.com/v1/input".to_owned(),
        api_key: Some("dd k3y ✓".to_owned()),
        auth_header: None,
        batch_size: 100,
        enabled,
        progress: SiemProgress::default(),
        created_at: t(10),
        updated_at: t(10),
        version: 0,
    })
}

fn edited(c: &SiemConfig, name: &str, progress: SiemProgress) -> SiemConfig {
    SiemConfig::restore(SiemConfigRecord {
        name: name.to_owned(),
        auth_header: Some("X-Token: abc".to_owned()),
        api_key: None,
        progress,
        updated_at: t(11),
        ..c.record().clone()
    })
}

fn progress(c: &SiemConfig, expected: Option<u64>, cursor: u64) -> SiemProgressWrite {
    SiemProgressWrite {
        org_id: c.org_id(),
        config_id: c.id(),
        expected_cursor: expected,
        progress: SiemProgress {
            cursor: Some(cursor),
            ..SiemProgress::default()
        },
    }
}

pub async fn siem_configs_round_trip_with_unique_names_per_org<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await.org.id();
    let org = seed.org.id();
    let a = config(org, "Datadog prod", true);
    let b = config(org, "Second", false);
    s.commit(Changeset {
        siem_configs: vec![a.clone(), b.clone(), config(other, "Datadog prod", true)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.siem_config(org, a.id()).await,
        Ok(Some(a.clone().with_version(1))),
        "reads back, secrets opened"
    );
    assert_eq!(s.siem_config(other, a.id()).await, Ok(None), "per org");
    let listed: Vec<SiemConfigId> = s
        .org_siem_configs(org)
        .await
        .unwrap()
        .iter()
        .map(SiemConfig::id)
        .collect();
    assert_eq!(listed, [a.id(), b.id()], "oldest first");
    let dup = s
        .commit(Changeset {
            siem_configs: vec![config(org, "Datadog prod", true)],
            ..cs()
        })
        .await;
    assert_eq!(
        dup,
        Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::SiemConfigName)))
    );
    let missing_org = s
        .commit(Changeset {
            siem_configs: vec![config(OrgId::from_uuid(uuid()), "x", true)],
            ..cs()
        })
        .await;
    assert_eq!(missing_org, Err(StoreError::NotFound));
    // An update at the loaded version; a second at the old version is stale.
    let stored = s.siem_config(org, a.id()).await.unwrap().unwrap();
    s.commit(Changeset {
        siem_configs: vec![edited(&stored, "Renamed", SiemProgress::default())],
        ..cs()
    })
    .await
    .unwrap();
    let stale = s
        .commit(Changeset {
            siem_configs: vec![edited(&stored, "Again", SiemProgress::default())],
            ..cs()
        })
        .await;
    assert_eq!(stale, Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    let now = s.siem_config(org, a.id()).await.unwrap().unwrap();
    assert_eq!(
        (
            now.name(),
            now.record().version,
            now.record().api_key.as_deref(),
            now.record().auth_header.as_deref()
        ),
        ("Renamed", 2, None, Some("X-Token: abc"))
    );
    // Delete at the loaded version.
    let stale_delete = s
        .commit(Changeset {
            removed_siem_configs: vec![stored],
            ..cs()
        })
        .await;
    assert_eq!(stale_delete, Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    s.commit(Changeset {
        removed_siem_configs: vec![now],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.siem_config(org, a.id()).await, Ok(None));
    // The name is free again.
    s.commit(Changeset {
        siem_configs: vec![config(org, "Datadog prod", true)],
        ..cs()
    })
    .await
    .unwrap();
}

pub async fn siem_progress_is_compare_and_set_on_the_cursor_and_config_writes_keep_it<S: Store>(s: Arc<S>) {
    let org = seeded(&*s, "acme").await.org.id();
    let c = config(org, "stream", true);
    s.commit(Changeset {
        siem_configs: vec![c.clone()],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        siem_progress: vec![progress(&c, None, 4)],
        ..cs()
    })
    .await
    .unwrap();
    let again = s
        .commit(Changeset {
            siem_progress: vec![progress(&c, None, 9)],
            ..cs()
        })
        .await;
    assert_eq!(
        again,
        Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        "another worker moved it"
    );
    let failed = SiemProgress {
        cursor: Some(4),
        ..SiemProgress::default()
    }
    .failed("HTTP 500".to_owned(), t(20));
    s.commit(Changeset {
        siem_progress: vec![SiemProgressWrite {
            org_id: org,
            config_id: c.id(),
            expected_cursor: Some(4),
            progress: failed.clone(),
        }],
        ..cs()
    })
    .await
    .unwrap();
    let stored = s.siem_config(org, c.id()).await.unwrap().unwrap();
    assert_eq!(stored.progress(), &failed);
    assert_eq!(stored.record().version, 1, "progress bumps no version");
    // A config write (loaded before the progress moved) keeps the stored progress.
    s.commit(Changeset {
        siem_configs: vec![edited(&stored, "renamed", SiemProgress::default())],
        ..cs()
    })
    .await
    .unwrap();
    let after = s.siem_config(org, c.id()).await.unwrap().unwrap();
    assert_eq!((after.name(), after.progress()), ("renamed", &failed));
    // The streaming list: enabled and due only, by id, keyset paged.
    let due = s.streaming_siem_configs(t(20), None, 10).await.unwrap();
    assert!(due.iter().all(|x| x.id() != c.id()), "backing off until t(50)");
    let later = s.streaming_siem_configs(t(50), None, 10).await.unwrap();
    assert!(later.iter().any(|x| x.id() == c.id()));
    let off = config(org, "off", false);
    let on = config(org, "on", true);
    s.commit(Changeset {
        siem_configs: vec![off.clone(), on.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let listed: Vec<SiemConfigId> = s
        .streaming_siem_configs(t(50), Some(c.id()), 10)
        .await
        .unwrap()
        .iter()
        .map(SiemConfig::id)
        .collect();
    assert_eq!(listed, [on.id()], "after the keyset position, enabled only");
    // Progress of a deleted config is stale, nothing written.
    s.commit(Changeset {
        removed_siem_configs: vec![s.siem_config(org, on.id()).await.unwrap().unwrap()],
        ..cs()
    })
    .await
    .unwrap();
    let gone = s
        .commit(Changeset {
            siem_progress: vec![progress(&on, None, 1)],
            ..cs()
        })
        .await;
    assert_eq!(gone, Err(StoreError::Conflict(ConflictKind::StaleVersion)));
}
