//! Newtype identifiers. Ids are UUIDs generated outside the domain and passed in.

use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// Parses the hyphenated text form.
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::try_parse(text).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(/// An organization.
    OrgId);
id_type!(/// A user (platform-wide).
    UserId);
id_type!(/// A membership row of a user in an organization.
    MembershipId);
id_type!(/// An invitation.
    InvitationId);
id_type!(/// A custom role.
    RoleId);
id_type!(/// A session (one refresh-token family).
    SessionId);
id_type!(/// An outgoing event or an audit entry.
    EventId);
id_type!(/// A webhook endpoint.
    WebhookId);
id_type!(/// One delivery of an event to one webhook.
    DeliveryId);
id_type!(/// A SCIM bearer token of an org (§10.1).
    ScimTokenId);
id_type!(/// One e-mail of the mail outbox.
    MailId);
id_type!(/// One row of an org's provider credentials (§12 OAuth, §18 billing).
    CredentialId);
id_type!(/// A service of an org (§19.1).
    ServiceId);
id_type!(/// A login key of the platform's login front-end (§19.5).
    LoginKeyId);
id_type!(/// An upstream identity provider of an org (§11).
    UpstreamProviderId);
id_type!(/// A SIEM streaming config of an org (§17).
    SiemConfigId);
