//! org-app
