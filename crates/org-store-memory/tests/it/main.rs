//! Integration tests of the in-memory store: the shared contract suite, on a multi-threaded
//! runtime so its concurrency checks run in parallel too.

use std::sync::Arc;

use org_store_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_contract_suite() {
    org_ports::contract::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
}
