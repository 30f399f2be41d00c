//! Integration tests of the HTTP router, in-process over the memory store.
