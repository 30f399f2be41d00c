//! Reads kept while the store's change token stands ([`org_ports::ChangeToken`]): any commit,
//! by this process or another, moves the token, and everything kept under an older token is
//! dropped before the next read is answered. So a cached read is exactly what a fresh one
//! would return, and a revocation takes effect on the very next request. A store without a
//! token (PostgreSQL with several processes) caches nothing.
//!
//! The token is read *before* the store is, and a value is kept only under the token read
//! before it: a commit racing the read moves the token, so its result is never served.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Values kept under one change token, at most `capacity` of them.
pub struct TokenCache<K, V> {
    state: Mutex<State<K, V>>,
    capacity: usize,
}

struct State<K, V> {
    token: Option<u64>,
    entries: HashMap<K, Arc<V>>,
}

impl<K, V> std::fmt::Debug for TokenCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V> TokenCache<K, V> {
    /// A cache of at most `capacity` values (cleared whole when full).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                token: None,
                entries: HashMap::new(),
            }),
            capacity,
        }
    }

    /// The value kept for `key` under `token`, if any. A new token drops everything older.
    pub fn get(&self, token: u64, key: &K) -> Option<Arc<V>> {
        let mut s = self.state.lock().ok()?;
        if s.token != Some(token) {
            s.entries.clear();
            s.token = Some(token);
            return None;
        }
        s.entries.get(key).cloned()
    }

    /// Keeps `value` for `key`, read after `token` was: dropped if the token has moved since.
    pub fn put(&self, token: u64, key: K, value: Arc<V>) {
        let Ok(mut s) = self.state.lock() else { return };
        if s.token != Some(token) {
            return;
        }
        if s.entries.len() >= self.capacity {
            s.entries.clear();
        }
        s.entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_served_only_under_the_token_it_was_read_after() {
        let c: TokenCache<&str, u32> = TokenCache::new(8);
        assert_eq!(c.get(1, &"a"), None);
        c.put(1, "a", Arc::new(10));
        assert_eq!(c.get(1, &"a").as_deref(), Some(&10));
        // A commit moved the token: the old value is gone for good.
        assert_eq!(c.get(2, &"a"), None);
        assert_eq!(c.get(1, &"a"), None);
        // A value read before a move is not kept under the new token.
        c.get(3, &"b");
        c.put(2, "b", Arc::new(20));
        assert_eq!(c.get(3, &"b"), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let c: TokenCache<u32, u32> = TokenCache::new(2);
        c.get(1, &0);
        for k in 0..3 {
            c.put(1, k, Arc::new(k));
        }
        assert_eq!(c.get(1, &0), None);
        assert_eq!(c.get(1, &2).as_deref(), Some(&2));
    }
}
