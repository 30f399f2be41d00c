//! The SCIM 2.0 protocol (RFC 7643/7644) as API.md §10 restricts it: errors, filters, PATCH
//! paths and operations, resource bodies, rendering and discovery. Pure and IO-free: it knows
//! nothing of the domain or the stores; the SCIM use cases and the HTTP adapter build on it.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod path;

pub use discovery::{resource_type, resource_types, schema, schemas, service_provider_config};
pub use error::{ScimError, ScimType};
pub use filter::{AttrKey, AttrRef, CompareOp, Expr, Filter, Literal, ResourceKind};
pub use path::{AttrPath, PathSchema};
