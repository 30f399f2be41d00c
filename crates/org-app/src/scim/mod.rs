//! The SCIM 2.0 protocol (RFC 7643/7644) as API.md §10 restricts it: errors, filters, PATCH
//! paths and operations, resource bodies, rendering and discovery. Pure and IO-free: it knows
//! nothing of the domain or the stores; the SCIM use cases and the HTTP adapter build on it.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod input;
pub mod patch;
pub mod path;
pub mod resource;

pub use discovery::{resource_type, resource_types, schema, schemas, service_provider_config};
pub use error::{ScimError, ScimType};
pub use filter::{AttrKey, AttrRef, CompareOp, Expr, Filter, Literal, ResourceKind};
pub use input::{EmailInput, GroupInput, NameInput, UserInput};
pub use patch::{GroupChange, PatchOpKind, PatchOperation, PatchRequest, apply_user_patch, group_changes};
pub use path::{AttrPath, PathSchema};
pub use resource::{
    GroupRef, GroupResource, ListParams, MemberRef, UserResource, etag, etag_matches, list_response, project,
    render_group, render_user,
};
