//! Reversible encryption of secrets at rest (contract §1.8): the port stores use for columns
//! that must stay usable (webhook signing secrets), bound to the row they belong to.

use org_domain::OrgId;

use crate::StoreError;

/// Where a sealed secret lives: the associated data of its encryption. A blob sealed for one
/// scope MUST NOT open under another (copied to another row, column or org).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretScope {
    /// The org the row belongs to.
    pub org_id: OrgId,
    /// The table (`"webhooks"`).
    pub table: &'static str,
    /// The column (`"secret"`, `"previous_secret"`).
    pub column: &'static str,
    /// The row's primary key, as text.
    pub row_id: String,
}

impl SecretScope {
    /// The scope of `table.column` of row `row_id` in `org_id`.
    pub fn new(org_id: OrgId, table: &'static str, column: &'static str, row_id: impl ToString) -> Self {
        Self {
            org_id,
            table,
            column,
            row_id: row_id.to_string(),
        }
    }
}

/// Seals and opens secrets for storage. Implementations use an AEAD with a fresh nonce per
/// seal and the scope as associated data; the sealed text records what is needed to open it
/// (format version, key id, nonce). Neither method logs or returns the plaintext in an error.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SecretCipher: Send + Sync {
    /// The stored text of `plaintext` for `aad`. Sealing twice gives different texts.
    fn seal(&self, plaintext: &str, aad: &SecretScope) -> Result<String, StoreError>;

    /// The plaintext of `sealed`. MUST return [`StoreError::Corrupt`] when the text is malformed,
    /// names an unknown key, was tampered with, or was sealed for another scope.
    fn open(&self, sealed: &str, aad: &SecretScope) -> Result<String, StoreError>;
}
