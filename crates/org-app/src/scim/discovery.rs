//! SCIM discovery (RFC 7643 §5–§7, RFC 7644 §4, API.md §10.5): the service provider config,
//! the resource types and the core User and Group schemas restricted to what this server
//! supports. The schemas are rendered from one attribute catalogue, which filter checking
//! ([`crate::scim::Filter::check`]) and case-exactness in matching read too, so what
//! `/Schemas` says and what filters accept cannot drift apart.
//!
//! The RFC 7643 §3.1 common attributes (`id`, `externalId`, `meta`) are in the catalogue (they
//! are filterable) but, as in the RFC's own schema representations (§8.7.1), not listed in
//! `/Schemas`.

use serde_json::{Map, Value, json};

use super::filter::ResourceKind;

/// The schema URN of the service provider configuration.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The schema URN of a resource type.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The schema URN of a schema.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The most resources one list response holds (`filter.maxResults`, and the cap of `count`).
pub const MAX_RESULTS: u64 = 1000;

/// The SCIM data type of an attribute (RFC 7643 §2.3), as far as this server uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::DateTime => "dateTime",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
        }
    }
}

/// One attribute of the catalogue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttrDef {
    pub(crate) name: &'static str,
    pub(crate) ty: AttrType,
    pub(crate) multi: bool,
    pub(crate) required: bool,
    pub(crate) case_exact: bool,
    pub(crate) mutability: Mutability,
    /// `returned: always` (else `default`).
    pub(crate) always: bool,
    /// `uniqueness: server` (else `none`).
    pub(crate) unique: bool,
    /// Accepted in filters.
    pub(crate) filterable: bool,
    /// An RFC 7643 §3.1 common attribute, not listed in `/Schemas`.
    pub(crate) common: bool,
    pub(crate) description: &'static str,
    pub(crate) canonical: &'static [&'static str],
    pub(crate) references: &'static [&'static str],
    pub(crate) sub: &'static [AttrDef],
}

impl AttrDef {
    const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            multi: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            always: false,
            unique: false,
            filterable: true,
            common: false,
            description,
            canonical: &[],
            references: &[],
            sub: &[],
        }
    }
    const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::String, description)
    }
    const fn complex(name: &'static str, description: &'static str, sub: &'static [AttrDef]) -> Self {
        Self {
            sub,
            ..Self::new(name, AttrType::Complex, description)
        }
    }
    const fn reference(name: &'static str, description: &'static str, references: &'static [&'static str]) -> Self {
        Self {
            references,
            case_exact: true,
            filterable: false,
            ..Self::new(name, AttrType::Reference, description)
        }
    }
    const fn multi(self) -> Self {
        Self { multi: true, ..self }
    }
    const fn required(self) -> Self {
        Self { required: true, ..self }
    }
    const fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }
    const fn read_only(self) -> Self {
        Self {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    const fn immutable(self) -> Self {
        Self {
            mutability: Mutability::Immutable,
            ..self
        }
    }
    const fn unique(self) -> Self {
        Self { unique: true, ..self }
    }
    const fn always(self) -> Self {
        Self { always: true, ..self }
    }
    const fn common(self) -> Self {
        Self { common: true, ..self }
    }
    const fn unfilterable(self) -> Self {
        Self {
            filterable: false,
            ..self
        }
    }
    const fn canonical(self, canonical: &'static [&'static str]) -> Self {
        Self { canonical, ..self }
    }

    /// The sub-attribute `name` (case-insensitive).
    pub(crate) fn sub_attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub.iter().find(|d| d.name.eq_ignore_ascii_case(name))
    }

    fn render(&self) -> Value {
        let mut a = Map::new();
        a.insert("name".into(), json!(self.name));
        a.insert("type".into(), json!(self.ty.as_str()));
        a.insert("multiValued".into(), json!(self.multi));
        a.insert("description".into(), json!(self.description));
        a.insert("required".into(), json!(self.required));
        if !self.canonical.is_empty() {
            a.insert("canonicalValues".into(), json!(self.canonical));
        }
        if matches!(self.ty, AttrType::String | AttrType::Reference) {
            a.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.references.is_empty() {
            a.insert("referenceTypes".into(), json!(self.references));
        }
        a.insert("mutability".into(), json!(self.mutability.as_str()));
        a.insert("returned".into(), json!(if self.always { "always" } else { "default" }));
        if self.ty != AttrType::Complex {
            a.insert("uniqueness".into(), json!(if self.unique { "server" } else { "none" }));
        }
        if !self.sub.is_empty() {
            let sub: Vec<Value> = self.sub.iter().map(AttrDef::render).collect();
            a.insert("subAttributes".into(), Value::Array(sub));
        }
        Value::Object(a)
    }
}

const META_SUB: &[AttrDef] = &[
    AttrDef::string("resourceType", "The name of the resource type of the resource.").read_only(),
    AttrDef::new("created", AttrType::DateTime, "When the resource was added.").read_only(),
    AttrDef::new(
        "lastModified",
        AttrType::DateTime,
        "When the resource was last changed.",
    )
    .read_only(),
    AttrDef::reference("location", "The URI of the resource.", &["uri"]).read_only(),
    AttrDef::string("version", "The version (weak entity tag) of the resource.")
        .read_only()
        .exact(),
];

const COMMON: &[AttrDef] = &[
    AttrDef::string("id", "The server's identifier of the resource.")
        .exact()
        .read_only()
        .always()
        .unique()
        .common(),
    AttrDef::string("externalId", "The identity provider's identifier of the resource.")
        .exact()
        .common(),
    AttrDef::complex("meta", "Resource metadata.", META_SUB)
        .read_only()
        .common(),
];

const NAME_SUB: &[AttrDef] = &[
    AttrDef::string("formatted", "The full name, formatted for display."),
    AttrDef::string("familyName", "The family name."),
    AttrDef::string("givenName", "The given name."),
];

const EMAIL_SUB: &[AttrDef] = &[
    // Required within an element: an element without a value is no e-mail (400 `invalidValue`,
    // §10.3), and clients that fill only required attributes must send one.
    AttrDef::string("value", "The e-mail address.").required(),
    AttrDef::string("type", "The kind of e-mail address.").canonical(&["work", "home", "other"]),
    AttrDef::new(
        "primary",
        AttrType::Boolean,
        "Whether this is the primary e-mail address.",
    ),
];

const USER_GROUP_SUB: &[AttrDef] = &[
    AttrDef::string("value", "The id of the group.").exact().read_only(),
    AttrDef::reference("$ref", "The URI of the group.", &["Group"]).read_only(),
    AttrDef::string("display", "The name of the group.").read_only(),
];

const USER: &[AttrDef] = &[
    AttrDef::string("userName", "The user's identifier in the organization, unique in it.")
        .required()
        .unique(),
    AttrDef::complex("name", "The user's name.", NAME_SUB),
    AttrDef::string("displayName", "The name to display for the user."),
    AttrDef::complex("emails", "The user's e-mail address (one, of type work).", EMAIL_SUB)
        .multi()
        .required(),
    AttrDef::new("active", AttrType::Boolean, "Whether the membership is active."),
    AttrDef::complex(
        "groups",
        "The groups of the user: the organization group and the role group, if any.",
        USER_GROUP_SUB,
    )
    .multi()
    .read_only(),
];

const MEMBER_SUB: &[AttrDef] = &[
    AttrDef::string("value", "The id of the member user.")
        .exact()
        .immutable(),
    AttrDef::reference("$ref", "The URI of the member user.", &["User"]).immutable(),
    AttrDef::string("display", "The name of the member user.").read_only(),
    AttrDef::string("type", "The kind of member.")
        .canonical(&["User"])
        .immutable()
        .unfilterable(),
];

const GROUP: &[AttrDef] = &[
    AttrDef::string("displayName", "The name of the group (the role name).")
        .required()
        .unique(),
    AttrDef::complex("members", "The active members of the group.", MEMBER_SUB).multi(),
];

fn specific(kind: ResourceKind) -> &'static [AttrDef] {
    match kind {
        ResourceKind::User => USER,
        ResourceKind::Group => GROUP,
    }
}

/// The attribute `name` of `kind` (case-insensitive), common attributes included.
pub(crate) fn attribute(kind: ResourceKind, name: &str) -> Option<&'static AttrDef> {
    COMMON
        .iter()
        .chain(specific(kind))
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Whether values of `name` (or `name.sub`) compare case-exactly, for either resource kind.
pub(crate) fn case_exact(name: &str, sub: Option<&str>) -> bool {
    [ResourceKind::User, ResourceKind::Group].into_iter().any(|kind| {
        let Some(def) = attribute(kind, name) else {
            return false;
        };
        match sub {
            None => def.case_exact,
            Some(sub) => def.sub_attr(sub).is_some_and(|d| d.case_exact),
        }
    })
}

fn trimmed(base: &str) -> &str {
    base.trim_end_matches('/')
}

/// `GET /ServiceProviderConfig` (API.md §10.5): PATCH, filters (at most 1000 results) and
/// ETags supported; bulk, sort and password changes not; bearer-token authentication.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token of the organization (scim_…), sent as Authorization: Bearer.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", trimmed(base)),
        },
    })
}

fn render_resource_type(kind: ResourceKind, base: &str) -> Value {
    let (name, description) = match kind {
        ResourceKind::User => ("User", "A membership of the organization together with its user."),
        ResourceKind::Group => ("Group", "The organization group or the group of a custom role."),
    };
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": kind.endpoint(),
        "description": description,
        "schema": kind.schema_urn(),
        "schemaExtensions": [],
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{name}", trimmed(base)),
        },
    })
}

/// `GET /ResourceTypes`: User and Group.
pub fn resource_types(base: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|kind| render_resource_type(kind, base))
        .collect()
}

/// `GET /ResourceTypes/:id` (`User` or `Group`, case-insensitive). Takes the base URL, unlike
/// [`schema`], so that it renders exactly the element of [`resource_types`] (with its
/// `meta.location`).
pub fn resource_type(base: &str, id: &str) -> Option<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(id))
        .map(|kind| render_resource_type(kind, base))
}

fn render_schema(kind: ResourceKind) -> Value {
    let (name, description) = match kind {
        ResourceKind::User => ("User", "User Account"),
        ResourceKind::Group => ("Group", "Group"),
    };
    let attributes: Vec<Value> = specific(kind)
        .iter()
        .filter(|d| !d.common)
        .map(AttrDef::render)
        .collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": kind.schema_urn(),
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema"},
    })
}

/// `GET /Schemas`: the core User and Group schemas restricted to the attributes this server
/// supports. `meta` carries no `location` (these take no base URL); the caller may add one.
pub fn schemas() -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(render_schema)
        .collect()
}

/// `GET /Schemas/:id`: the schema whose URN is `id` (case-insensitive).
pub fn schema(id: &str) -> Option<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|kind| kind.schema_urn().eq_ignore_ascii_case(id))
        .map(render_schema)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BASE: &str = "https://id.example.com/scim/v2/";

    fn attr<'a>(schema: &'a Value, name: &str) -> &'a Value {
        schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| unreachable!("no attribute {name}"))
    }

    #[test]
    fn the_service_provider_config_says_what_is_supported() {
        let config = service_provider_config(BASE);
        let cases = [
            ("/patch/supported", json!(true)),
            ("/bulk/supported", json!(false)),
            ("/sort/supported", json!(false)),
            ("/changePassword/supported", json!(false)),
            ("/filter/supported", json!(true)),
            ("/filter/maxResults", json!(1000)),
            ("/etag/supported", json!(true)),
            ("/authenticationSchemes/0/type", json!("oauthbearertoken")),
            (
                "/meta/location",
                json!("https://id.example.com/scim/v2/ServiceProviderConfig"),
            ),
            ("/schemas/0", json!(SERVICE_PROVIDER_CONFIG_SCHEMA)),
        ];
        for (pointer, expected) in cases {
            assert_eq!(config.pointer(pointer), Some(&expected), "{pointer}");
        }
        assert_eq!(config["authenticationSchemes"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_resource_types_are_user_and_group() {
        let types = resource_types(BASE);
        let ids: Vec<&Value> = types.iter().map(|t| &t["id"]).collect();
        assert_eq!(ids, [&json!("User"), &json!("Group")]);
        assert_eq!(types[0]["endpoint"], "/Users");
        assert_eq!(types[0]["schema"], "urn:ietf:params:scim:schemas:core:2.0:User");
        assert_eq!(types[1]["endpoint"], "/Groups");
        assert_eq!(
            types[1]["meta"]["location"],
            "https://id.example.com/scim/v2/ResourceTypes/Group"
        );
    }

    #[test]
    fn one_resource_type_is_the_element_of_the_list() {
        assert_eq!(resource_type(BASE, "user"), Some(resource_types(BASE)[0].clone()));
        assert_eq!(resource_type(BASE, "Group"), Some(resource_types(BASE)[1].clone()));
        assert_eq!(resource_type(BASE, "Device"), None);
    }

    #[test]
    fn one_schema_is_the_element_of_the_list() {
        let all = schemas();
        assert_eq!(all.len(), 2);
        assert_eq!(
            schema("urn:ietf:params:scim:schemas:core:2.0:User"),
            Some(all[0].clone())
        );
        assert_eq!(
            schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP"),
            Some(all[1].clone())
        );
        assert_eq!(
            schema("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            None
        );
    }

    #[test]
    fn the_user_schema_marks_user_name_and_emails_required() {
        let user = schema(ResourceKind::User.schema_urn()).unwrap();
        let names: Vec<&str> = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["userName", "name", "displayName", "emails", "active", "groups"]);
        let cases = [
            ("userName", "required", json!(true)),
            ("userName", "uniqueness", json!("server")),
            ("userName", "caseExact", json!(false)),
            ("emails", "required", json!(true)),
            ("emails", "multiValued", json!(true)),
            ("displayName", "required", json!(false)),
            ("active", "type", json!("boolean")),
            ("groups", "mutability", json!("readOnly")),
            ("name", "type", json!("complex")),
        ];
        for (name, key, expected) in cases {
            assert_eq!(attr(&user, name)[key], expected, "{name}.{key}");
        }
        let email_value = &attr(&user, "emails")["subAttributes"][0];
        assert_eq!(
            (&email_value["name"], &email_value["required"]),
            (&json!("value"), &json!(true)),
            "an e-mail element needs its value"
        );
        let name_subs: Vec<&Value> = attr(&user, "name")["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["name"])
            .collect();
        assert_eq!(
            name_subs,
            [&json!("formatted"), &json!("familyName"), &json!("givenName")]
        );
    }

    #[test]
    fn the_group_schema_has_display_name_and_members() {
        let group = schema(ResourceKind::Group.schema_urn()).unwrap();
        assert_eq!(group["attributes"].as_array().unwrap().len(), 2);
        assert_eq!(attr(&group, "displayName")["required"], true);
        let value = &attr(&group, "members")["subAttributes"][0];
        assert_eq!(value["name"], "value");
        assert_eq!(value["caseExact"], true);
    }

    #[test]
    fn every_rendered_attribute_carries_the_rfc_characteristics() {
        for schema in schemas() {
            let mut stack: Vec<&Value> = schema["attributes"].as_array().unwrap().iter().collect();
            while let Some(a) = stack.pop() {
                for key in ["name", "type", "multiValued", "required", "mutability", "returned"] {
                    assert!(a.get(key).is_some(), "{} lacks {key}", a["name"]);
                }
                if a["type"] == "string" {
                    assert!(a.get("caseExact").is_some() && a.get("uniqueness").is_some());
                }
                if let Some(sub) = a["subAttributes"].as_array() {
                    stack.extend(sub);
                }
            }
        }
    }

    #[test]
    fn case_exactness_follows_the_contract() {
        let cases = [
            ("id", None, true),
            ("externalId", None, true),
            ("EXTERNALID", None, true),
            ("members", Some("value"), true),
            ("groups", Some("VALUE"), true),
            ("userName", None, false),
            ("displayName", None, false),
            ("emails", Some("value"), false),
            ("members", Some("display"), false),
            ("unknown", None, false),
        ];
        for (name, sub, expected) in cases {
            assert_eq!(case_exact(name, sub), expected, "{name} {sub:?}");
        }
    }

    #[test]
    fn every_filterable_attribute_passes_the_filter_check() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            for def in COMMON.iter().chain(specific(kind)).filter(|d| d.filterable) {
                let mut texts = vec![format!("{} pr", def.name)];
                texts.extend(
                    def.sub
                        .iter()
                        .filter(|s| s.filterable)
                        .map(|s| format!("{}.{} pr", def.name, s.name)),
                );
                for text in texts {
                    let filter = crate::scim::Filter::parse(&text).unwrap();
                    assert_eq!(filter.check(kind), Ok(()), "{kind:?} {text}");
                }
            }
        }
    }

    #[test]
    fn common_attributes_are_known_to_both_kinds() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            for name in ["id", "externalId", "meta"] {
                assert!(attribute(kind, name).is_some_and(|d| d.common), "{name}");
            }
        }
        assert!(attribute(ResourceKind::Group, "userName").is_none());
        assert!(attribute(ResourceKind::User, "members").is_none());
    }
}
