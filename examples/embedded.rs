//! Embedding `org-app`: the same use cases over the in-memory store, then over SeaORM on an
//! SQLite database, changing only the store constructor.
//!
//! `cargo run -p org-examples --example embedded`

use std::sync::Arc;

use org_app::system::{RandomTokens, SystemClock, UuidV7};
use org_app::{App, AppConfig, AppError, Caller, MemberFilter, MemberPosition, RequestMeta, TransferTarget};
use org_ports::Stores;
use org_store_memory::MemoryStore;
use org_store_seaorm::{SeaStore, StoreOptions};
use org_tokens::{JwtTokens, Keys};

/// Create an org, invite and admit a member, promote and hand over the org, list members:
/// the code does not know which store it runs on.
async fn walkthrough(stores: Stores) -> Result<(), AppError> {
    let app = App::new(
        stores,
        Arc::new(SystemClock),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        Arc::new(JwtTokens::new(Keys::generate(), "https://id.example.com")),
        AppConfig::default(),
    );
    let meta = RequestMeta::default();
    let alice = Caller::new(app.users.create("alice@example.com", None, false).await?, None);
    let bob = Caller::new(app.users.create("bob@example.com", None, false).await?, None);
    let created = app.orgs.create(&alice, &meta, "acme", "Acme Inc").await?;
    println!(
        "  org {} (token for alice: {} bytes)",
        created.view.org.slug(),
        created.session.access_token.len()
    );
    let invitation = app
        .invitations
        .create(&alice, &meta, "acme", "bob@example.com", Some("member"), None)
        .await?;
    app.invitations.accept_by_token(&bob, &meta, &invitation.token).await?;
    let bob_id = bob.user.id().to_string();
    app.members.change_role(&alice, &meta, "acme", &bob_id, "admin").await?;
    let owner = app
        .members
        .transfer_ownership(&alice, &meta, "acme", &TransferTarget::Email("bob@example.com".into()))
        .await?;
    println!("  new owner: {}", owner.user.email());
    let list = app
        .members
        .list(&bob, "acme", &MemberFilter::default(), MemberPosition::first(50))
        .await?;
    for m in &list.members {
        println!("  {} {}", m.user.email(), m.membership.role());
    }
    assert_eq!(list.total, Some(2));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("memory store:");
    walkthrough(Stores::from_store(Arc::new(MemoryStore::new()))).await?;

    println!("SeaORM on SQLite:");
    let sqlite = SeaStore::connect("sqlite::memory:", StoreOptions::default()).await?;
    sqlite.migrate().await?;
    walkthrough(Stores::from_store(Arc::new(sqlite))).await?;
    Ok(())
}
