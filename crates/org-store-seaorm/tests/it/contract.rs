//! The shared store contract suite (`org_ports::contract`), once per backend.

use crate::support::{Backend, Fixture};

async fn passes_the_contract_suite(backend: Backend) {
    let fx = Fixture::new(backend);
    org_ports::contract::run_all(|| fx.store()).await;
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_passes_the_contract_suite() {
    passes_the_contract_suite(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_passes_the_contract_suite() {
    passes_the_contract_suite(Backend::Postgres).await;
}
