//! Integration tests of the in-memory store: the shared contract suite.

use std::sync::Arc;

use org_store_memory::MemoryStore;

#[tokio::test]
async fn memory_store_passes_the_contract_suite() {
    org_ports::contract::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
}
