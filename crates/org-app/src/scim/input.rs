//! SCIM resource bodies (POST and PUT, API.md §10.3–§10.4) read into plain inputs, with the
//! leniency identity providers need (§10.2): attribute names are case-insensitive, booleans
//! may be the strings `"true"`/`"false"` in any case, unknown, extension and read-only
//! attributes are ignored.
//!
//! Choices where the contract is silent:
//! - `schemas` is required: a body without it, or whose `schemas` lacks the core URN, is 400
//!   `invalidValue` ("wrong schema"). RFC 7643 §3 makes it REQUIRED and every identity provider
//!   sends it.
//! - An attribute given twice under different cases (`userName` and `username`) is 400
//!   `invalidValue` rather than a guess at which one wins.
//! - `userName`, `displayName`, the `name` parts, e-mail values and the group `displayName` are
//!   trimmed; an empty optional string counts as absent, an empty `userName` is 400
//!   `invalidValue`. `externalId` is an opaque identifier: kept as sent, only `""` counts as
//!   absent. Lengths are counted in characters.
//! - Several e-mails marked `primary` are accepted; the first of them counts.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::ResourceKind;

/// The longest `userName`, `externalId`, `displayName` and `name` part, in characters.
pub const MAX_TEXT_LEN: usize = 255;
/// The most `emails` a User body may carry.
pub const MAX_EMAILS: usize = 10;
/// The longest e-mail value, in characters.
pub const MAX_EMAIL_LEN: usize = 320;
/// The longest group `displayName`, in characters (after trimming).
pub const MAX_GROUP_NAME_LEN: usize = 100;

/// A User's `name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameInput {
    pub formatted: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl NameInput {
    /// Whether no part is set.
    pub fn is_empty(&self) -> bool {
        self.formatted.is_none() && self.given_name.is_none() && self.family_name.is_none()
    }
}

/// One element of a User's `emails`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailInput {
    pub value: String,
    /// `type` (`work`, `home`, …).
    pub kind: Option<String>,
    pub primary: bool,
}

/// The writable attributes of a SCIM User body. `None` is absent (or `null`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInput {
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    pub name: NameInput,
    pub display_name: Option<String>,
    pub emails: Option<Vec<EmailInput>>,
    pub active: Option<bool>,
}

impl UserInput {
    /// Reads a POST or PUT body; `expected_id` is the id of the path on PUT (an `id` in the
    /// body that differs → 400 `invalidValue`).
    pub fn parse(body: &Value, expected_id: Option<&str>) -> Result<Self, ScimError> {
        let fields = Fields::of(body, ResourceKind::User)?;
        fields.check_id(expected_id)?;
        let name = match fields.get("name") {
            None | Some(Value::Null) => NameInput::default(),
            Some(value @ Value::Object(_)) => {
                let parts = Fields::new(value, "name")?;
                NameInput {
                    formatted: parts.text("formatted", "name.formatted", MAX_TEXT_LEN)?,
                    given_name: parts.text("givenName", "name.givenName", MAX_TEXT_LEN)?,
                    family_name: parts.text("familyName", "name.familyName", MAX_TEXT_LEN)?,
                }
            }
            Some(_) => return Err(ScimError::invalid_value("'name' must be an object")),
        };
        let user_name = fields.text("userName", "userName", MAX_TEXT_LEN)?;
        if fields.get("userName").and_then(Value::as_str).is_some() && user_name.is_none() {
            return Err(ScimError::invalid_value("'userName' must not be empty"));
        }
        Ok(Self {
            external_id: fields.external_id()?,
            user_name,
            name,
            display_name: fields.text("displayName", "displayName", MAX_TEXT_LEN)?,
            emails: fields.emails()?,
            active: match fields.get("active") {
                None | Some(Value::Null) => None,
                Some(v) => Some(bool_value(v).ok_or_else(|| ScimError::invalid_value("'active' must be a boolean"))?),
            },
        })
    }

    /// Reads a rendered (and possibly patched) User resource: [`UserInput::parse`] without an
    /// expected id.
    pub fn from_resource(resource: &Value) -> Result<Self, ScimError> {
        Self::parse(resource, None)
    }

    /// The e-mail the body names: the primary (else first) `emails[].value`, else `userName`.
    pub fn primary_email(&self) -> Option<&str> {
        let emails = self.emails.as_deref().unwrap_or_default();
        emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| emails.first())
            .map(|e| e.value.as_str())
            .or(self.user_name.as_deref())
    }
}

/// The writable attributes of a SCIM Group body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInput {
    /// Trimmed, 1–100 characters.
    pub display_name: String,
    pub external_id: Option<String>,
    /// The member user ids, duplicates removed, in order.
    pub members: Vec<String>,
}

impl GroupInput {
    /// Reads a POST or PUT body (`expected_id` as for [`UserInput::parse`]).
    pub fn parse(body: &Value, expected_id: Option<&str>) -> Result<Self, ScimError> {
        let fields = Fields::of(body, ResourceKind::Group)?;
        fields.check_id(expected_id)?;
        let display_name = match fields.get("displayName") {
            None | Some(Value::Null) => return Err(ScimError::invalid_value("'displayName' is required")),
            Some(value) => group_name(value)?,
        };
        let members = match fields.get("members") {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => member_ids(value)?,
        };
        Ok(Self {
            display_name,
            external_id: fields.external_id()?,
            members,
        })
    }
}

/// A boolean, or the string `"true"`/`"false"` in any case.
pub(crate) fn bool_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A group `displayName`: a string, trimmed, 1–100 characters.
pub(crate) fn group_name(value: &Value) -> Result<String, ScimError> {
    let Some(name) = value.as_str() else {
        return Err(ScimError::invalid_value("'displayName' must be a string"));
    };
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_GROUP_NAME_LEN {
        return Err(ScimError::invalid_value(format!(
            "'displayName' must be 1 to {MAX_GROUP_NAME_LEN} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An `externalId`: a string of at most 255 characters, `""` being absent.
pub(crate) fn external_id(value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) if s.chars().count() > MAX_TEXT_LEN => Err(ScimError::invalid_value(format!(
            "'externalId' is longer than {MAX_TEXT_LEN} characters"
        ))),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::invalid_value("'externalId' must be a string")),
    }
}

/// Member ids from `[{"value": "<id>", …}]` (one object alone is accepted too), duplicates
/// removed; an element without a string `value` → 400 `invalidValue`.
pub(crate) fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => {
            return Err(ScimError::invalid_value(
                "'members' must be an array of {\"value\": \"<user id>\"}",
            ));
        }
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = Fields::new(item, "members")
            .ok()
            .and_then(|f| f.get("value").and_then(Value::as_str).map(str::trim))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ScimError::invalid_value(format!("'members[{i}].value' (the user id) is required")))?;
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// The members of a JSON object by lower-cased name.
struct Fields<'a> {
    map: HashMap<String, &'a Value>,
}

impl<'a> Fields<'a> {
    /// The members of `value`, which must be an object (`what` names it in errors).
    fn new(value: &'a Value, what: &str) -> Result<Self, ScimError> {
        let Some(object) = value.as_object() else {
            return Err(ScimError::invalid_value(format!("'{what}' must be an object")));
        };
        Self::of_map(object)
    }

    fn of_map(object: &'a Map<String, Value>) -> Result<Self, ScimError> {
        let mut map = HashMap::with_capacity(object.len());
        for (key, value) in object {
            if map.insert(key.to_lowercase(), value).is_some() {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{key}' is given twice (attribute names are case-insensitive)"
                )));
            }
        }
        Ok(Self { map })
    }

    /// The members of a resource body of `kind`, whose `schemas` must name its core schema.
    fn of(body: &'a Value, kind: ResourceKind) -> Result<Self, ScimError> {
        let Some(object) = body.as_object() else {
            return Err(ScimError::invalid_syntax("the body must be a JSON object"));
        };
        let fields = Self::of_map(object)?;
        let urn = kind.schema_urn();
        let listed = fields.get("schemas").and_then(Value::as_array).is_some_and(|s| {
            s.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        });
        if !listed {
            return Err(ScimError::invalid_value(format!(
                "wrong schema: 'schemas' must contain {urn}"
            )));
        }
        Ok(fields)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(&name.to_lowercase()).copied()
    }

    fn check_id(&self, expected: Option<&str>) -> Result<(), ScimError> {
        match (expected, self.get("id")) {
            (Some(expected), Some(id)) if !id.is_null() && id.as_str() != Some(expected) => Err(
                ScimError::invalid_value("'id' in the body differs from the id of the resource"),
            ),
            _ => Ok(()),
        }
    }

    /// A trimmed optional string of at most `max` characters (`what` names it in errors).
    fn text(&self, name: &str, what: &str, max: usize) -> Result<Option<String>, ScimError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > max {
                    return Err(ScimError::invalid_value(format!(
                        "'{what}' is longer than {max} characters"
                    )));
                }
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Some(_) => Err(ScimError::invalid_value(format!("'{what}' must be a string"))),
        }
    }

    fn external_id(&self) -> Result<Option<String>, ScimError> {
        self.get("externalId").map_or(Ok(None), external_id)
    }

    fn emails(&self) -> Result<Option<Vec<EmailInput>>, ScimError> {
        let items = match self.get("emails") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ScimError::invalid_value("'emails' must be an array")),
        };
        if items.len() > MAX_EMAILS {
            return Err(ScimError::invalid_value(format!(
                "at most {MAX_EMAILS} 'emails' are accepted"
            )));
        }
        let mut emails = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let what = format!("emails[{i}]");
            let email = Fields::new(item, &what)?;
            let value = email
                .text("value", &format!("{what}.value"), MAX_EMAIL_LEN)?
                .ok_or_else(|| ScimError::invalid_value(format!("'{what}.value' is required")))?;
            let primary = match email.get("primary") {
                None | Some(Value::Null) => false,
                Some(v) => bool_value(v)
                    .ok_or_else(|| ScimError::invalid_value(format!("'{what}.primary' must be a boolean")))?,
            };
            emails.push(EmailInput {
                value,
                kind: email.text("type", &format!("{what}.type"), MAX_TEXT_LEN)?,
                primary,
            });
        }
        Ok(Some(emails))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

    #[test]
    fn an_okta_create_body_is_read() {
        let body = json!({
            "schemas": [USER],
            "userName": "isaac.brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true,
        });
        let input = UserInput::parse(&body, None).unwrap();
        assert_eq!(
            input,
            UserInput {
                external_id: Some("00ujl29u0le5T6Aj10h7".into()),
                user_name: Some("isaac.brock@example.com".into()),
                name: NameInput {
                    formatted: None,
                    given_name: Some("Isaac".into()),
                    family_name: Some("Brock".into()),
                },
                display_name: Some("Isaac Brock".into()),
                emails: Some(vec![EmailInput {
                    value: "isaac.brock@example.com".into(),
                    kind: Some("work".into()),
                    primary: true,
                }]),
                active: Some(true),
            }
        );
    }

    #[test]
    fn an_entra_create_body_with_the_enterprise_extension_is_read() {
        let body = json!({
            "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": "True",
            "emails": [{"primary": "true", "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "R&D",
                "manager": {"value": "x"},
            },
        });
        let input = UserInput::parse(&body, None).unwrap();
        assert_eq!(input.active, Some(true));
        assert_eq!(input.name.formatted.as_deref(), Some("givenName familyName"));
        assert_eq!(input.primary_email(), Some("Test_User_fd0ea19b@testuser.com"));
        assert_eq!(
            input.external_id.as_deref(),
            Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
        );
    }

    #[test]
    fn attribute_names_and_boolean_strings_are_case_insensitive() {
        let body = json!({
            "SCHEMAS": [USER.to_uppercase()],
            "USERNAME": "  bob  ",
            "Name": {"GIVENNAME": "Bob"},
            "Active": "FALSE",
            "EMAILS": [{"VALUE": "b@x.io", "Primary": "False"}],
        });
        let input = UserInput::parse(&body, None).unwrap();
        assert_eq!(input.user_name.as_deref(), Some("bob"));
        assert_eq!(input.name.given_name.as_deref(), Some("Bob"));
        assert_eq!(input.active, Some(false));
        assert!(!input.emails.unwrap()[0].primary);
    }

    #[test]
    fn absent_and_null_attributes_are_none() {
        let input = UserInput::parse(&json!({"schemas": [USER], "displayName": null, "name": null}), None).unwrap();
        assert_eq!(input, UserInput::default());
        let input = UserInput::parse(&json!({"schemas": [USER], "displayName": "  ", "externalId": ""}), None).unwrap();
        assert_eq!(input, UserInput::default());
    }

    #[test]
    fn the_primary_email_is_the_primary_else_the_first_else_the_user_name() {
        let email = |value: &str, primary: bool| EmailInput {
            value: value.into(),
            kind: None,
            primary,
        };
        let cases = [
            (
                Some(vec![email("a@x", false), email("b@x", true)]),
                Some("u"),
                Some("b@x"),
            ),
            (
                Some(vec![email("a@x", false), email("b@x", false)]),
                Some("u"),
                Some("a@x"),
            ),
            (
                Some(vec![email("a@x", true), email("b@x", true)]),
                Some("u"),
                Some("a@x"),
            ),
            (Some(vec![]), Some("u"), Some("u")),
            (None, Some("u"), Some("u")),
            (None, None, None),
        ];
        for (emails, user_name, expected) in cases {
            let input = UserInput {
                emails,
                user_name: user_name.map(str::to_owned),
                ..UserInput::default()
            };
            assert_eq!(input.primary_email(), expected, "{input:?}");
        }
    }

    #[test]
    fn an_id_is_ignored_unless_it_differs_from_the_expected_one() {
        let body = json!({"schemas": [USER], "id": "u-1", "userName": "a"});
        assert!(UserInput::parse(&body, None).is_ok());
        assert!(UserInput::parse(&body, Some("u-1")).is_ok());
        let error = UserInput::parse(&body, Some("u-2")).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        assert!(error.detail.contains("'id'"));
        let error =
            GroupInput::parse(&json!({"schemas": [GROUP], "id": 7, "displayName": "x"}), Some("g")).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn bad_user_bodies_are_refused_naming_the_attribute() {
        let long = "x".repeat(256);
        let cases = [
            (json!([]), ScimType::InvalidSyntax, "must be a JSON object"),
            (json!({"userName": "a"}), ScimType::InvalidValue, "wrong schema"),
            (
                json!({"schemas": [GROUP], "userName": "a"}),
                ScimType::InvalidValue,
                "wrong schema",
            ),
            (
                json!({"schemas": USER, "userName": "a"}),
                ScimType::InvalidValue,
                "wrong schema",
            ),
            (
                json!({"schemas": [USER], "userName": 5}),
                ScimType::InvalidValue,
                "'userName' must be a string",
            ),
            (
                json!({"schemas": [USER], "userName": " "}),
                ScimType::InvalidValue,
                "'userName' must not be empty",
            ),
            (
                json!({"schemas": [USER], "userName": long}),
                ScimType::InvalidValue,
                "'userName' is longer than 255",
            ),
            (
                json!({"schemas": [USER], "externalId": long}),
                ScimType::InvalidValue,
                "'externalId' is longer",
            ),
            (
                json!({"schemas": [USER], "externalId": 1}),
                ScimType::InvalidValue,
                "'externalId' must be a string",
            ),
            (
                json!({"schemas": [USER], "displayName": long}),
                ScimType::InvalidValue,
                "'displayName' is longer",
            ),
            (
                json!({"schemas": [USER], "displayName": []}),
                ScimType::InvalidValue,
                "'displayName' must be",
            ),
            (
                json!({"schemas": [USER], "name": "Bob"}),
                ScimType::InvalidValue,
                "'name' must be an object",
            ),
            (
                json!({"schemas": [USER], "name": {"familyName": long}}),
                ScimType::InvalidValue,
                "'name.familyName' is longer",
            ),
            (
                json!({"schemas": [USER], "name": {"givenName": true}}),
                ScimType::InvalidValue,
                "'name.givenName' must be a string",
            ),
            (
                json!({"schemas": [USER], "active": "yes"}),
                ScimType::InvalidValue,
                "'active' must be a boolean",
            ),
            (
                json!({"schemas": [USER], "active": 1}),
                ScimType::InvalidValue,
                "'active' must be a boolean",
            ),
            (
                json!({"schemas": [USER], "emails": "a@b"}),
                ScimType::InvalidValue,
                "'emails' must be an array",
            ),
            (
                json!({"schemas": [USER], "emails": ["a@b"]}),
                ScimType::InvalidValue,
                "'emails[0]' must be an object",
            ),
            (
                json!({"schemas": [USER], "emails": [{"type": "work"}]}),
                ScimType::InvalidValue,
                "'emails[0].value' is required",
            ),
            (
                json!({"schemas": [USER], "emails": [{"value": format!("{}@x.io", "a".repeat(320))}]}),
                ScimType::InvalidValue,
                "'emails[0].value' is longer than 320",
            ),
            (
                json!({"schemas": [USER], "emails": [{"value": "a@b", "primary": "maybe"}]}),
                ScimType::InvalidValue,
                "'emails[0].primary' must be a boolean",
            ),
            (
                json!({"schemas": [USER], "emails": vec![json!({"value": "a@b"}); 11]}),
                ScimType::InvalidValue,
                "at most 10 'emails'",
            ),
            (
                json!({"schemas": [USER], "userName": "a", "USERNAME": "b"}),
                ScimType::InvalidValue,
                "given twice",
            ),
        ];
        for (body, scim_type, detail) in cases {
            let error = UserInput::parse(&body, None).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.scim_type, Some(scim_type), "{body}");
            assert!(error.detail.contains(detail), "{body}: {}", error.detail);
        }
    }

    #[test]
    fn limits_are_inclusive_and_counted_in_characters() {
        let body = json!({
            "schemas": [USER],
            "userName": "é".repeat(255),
            "emails": vec![json!({"value": "ü".repeat(320)}); 10],
        });
        let input = UserInput::parse(&body, None).unwrap();
        assert_eq!(input.user_name.unwrap().chars().count(), 255);
        assert_eq!(input.emails.unwrap().len(), 10);
    }

    #[test]
    fn from_resource_reads_a_rendered_user() {
        let resource = json!({
            "schemas": [USER],
            "id": "u-1",
            "userName": "a@x.io",
            "emails": [{"value": "a@x.io", "type": "work", "primary": true}],
            "active": false,
            "groups": [{"value": "g", "display": "G", "$ref": "https://x/Groups/g"}],
            "meta": {"resourceType": "User", "version": "W/\"1\""},
        });
        let input = UserInput::from_resource(&resource).unwrap();
        assert_eq!(input.user_name.as_deref(), Some("a@x.io"));
        assert_eq!(input.active, Some(false));
        assert_eq!(input.primary_email(), Some("a@x.io"));
    }

    #[test]
    fn a_group_body_is_read() {
        let body = json!({
            "schemas": [GROUP],
            "displayName": "  Engineers ",
            "externalId": "okta-grp-1",
            "members": [{"value": "u-1", "display": "Alice"}, {"value": "u-2"}, {"value": "u-1"}],
        });
        assert_eq!(
            GroupInput::parse(&body, None).unwrap(),
            GroupInput {
                display_name: "Engineers".into(),
                external_id: Some("okta-grp-1".into()),
                members: vec!["u-1".into(), "u-2".into()],
            }
        );
        let bare = GroupInput::parse(
            &json!({"schemas": [GROUP], "DisplayName": "Ops", "members": null}),
            None,
        )
        .unwrap();
        assert_eq!(bare.members, Vec::<String>::new());
        assert_eq!(bare.external_id, None);
    }

    #[test]
    fn bad_group_bodies_are_refused() {
        let cases = [
            (json!("x"), ScimType::InvalidSyntax, "must be a JSON object"),
            (json!({"displayName": "x"}), ScimType::InvalidValue, "wrong schema"),
            (
                json!({"schemas": [USER], "displayName": "x"}),
                ScimType::InvalidValue,
                "wrong schema",
            ),
            (
                json!({"schemas": [GROUP]}),
                ScimType::InvalidValue,
                "'displayName' is required",
            ),
            (
                json!({"schemas": [GROUP], "displayName": "   "}),
                ScimType::InvalidValue,
                "1 to 100 characters",
            ),
            (
                json!({"schemas": [GROUP], "displayName": "x".repeat(101)}),
                ScimType::InvalidValue,
                "1 to 100",
            ),
            (
                json!({"schemas": [GROUP], "displayName": 3}),
                ScimType::InvalidValue,
                "must be a string",
            ),
            (
                json!({"schemas": [GROUP], "displayName": "x", "members": [{"display": "a"}]}),
                ScimType::InvalidValue,
                "'members[0].value'",
            ),
            (
                json!({"schemas": [GROUP], "displayName": "x", "members": ["u-1"]}),
                ScimType::InvalidValue,
                "'members[0].value'",
            ),
            (
                json!({"schemas": [GROUP], "displayName": "x", "members": "u-1"}),
                ScimType::InvalidValue,
                "must be an array",
            ),
        ];
        for (body, scim_type, detail) in cases {
            let error = GroupInput::parse(&body, None).unwrap_err();
            assert_eq!(error.scim_type, Some(scim_type), "{body}");
            assert!(error.detail.contains(detail), "{body}: {}", error.detail);
        }
        assert_eq!(
            GroupInput::parse(&json!({"schemas": [GROUP], "displayName": "x".repeat(100)}), None)
                .unwrap()
                .display_name
                .len(),
            100
        );
    }
}
