//! contract suite
