//! The role a membership holds: a built-in role or a custom role slug (§3.3, §3.4).

use std::fmt;

use crate::capability::CapabilitySet;
use crate::error::FieldError;
use crate::values::RoleSlug;

/// A membership's role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Admin,
    Member,
    Custom(RoleSlug),
}

impl Role {
    /// Parses `owner`, `admin`, `member` or a custom slug (existence is checked by the org).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Ok(match text {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "member" => Self::Member,
            other => Self::Custom(RoleSlug::parse(other).map_err(|e| e.at("role"))?),
        })
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Custom(slug) => slug.as_str(),
        }
    }

    /// What a built-in role may do (§3.3); `None` for a custom role, whose permissions are
    /// its own.
    pub fn built_in_capabilities(&self) -> Option<CapabilitySet> {
        match self {
            Self::Owner => Some(CapabilitySet::all()),
            Self::Admin => Some(CapabilitySet::grantable()),
            Self::Member => Some(CapabilitySet::EMPTY),
            Self::Custom(_) => None,
        }
    }

    /// Whether this is `owner`, `admin` or `member`.
    pub const fn is_built_in(&self) -> bool {
        !matches!(self, Self::Custom(_))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
