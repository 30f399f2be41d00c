//! org-store-seaorm
