//! Rendering SCIM resources (RFC 7643 §4, API.md §10.3–§10.4) from plain structs, list
//! responses and paging (RFC 7644 §3.4.2), projection by `attributes` / `excludedAttributes`
//! (RFC 7644 §3.9) and weak ETags (§3.14). Unassigned attributes are omitted (RFC 7643 §2.5).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::discovery::MAX_RESULTS;
use super::error::ScimError;
use super::filter::{ResourceKind, get_ci};
use super::input::NameInput;

/// The schema URN of a list response.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The default `count` of a list.
pub const DEFAULT_COUNT: u64 = 100;

/// A group a User is in (`groups[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRef {
    /// The group id.
    pub value: String,
    /// The group name.
    pub display: String,
}

/// A member of a Group (`members[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    /// The user id.
    pub value: String,
    /// The name shown for the user.
    pub display: String,
}

/// What a SCIM User shows: a membership together with its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserResource {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub name: NameInput,
    pub display_name: Option<String>,
    /// The membership's SCIM e-mail, shown as the one `work` e-mail.
    pub email: String,
    pub active: bool,
    pub groups: Vec<GroupRef>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub version: u64,
}

/// What a SCIM Group shows: the org group or a role group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupResource {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub members: Vec<MemberRef>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub version: u64,
}

/// The weak ETag of a version: `W/"<n>"` (also `meta.version`).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` or `If-None-Match` header value names `version`: `*`, or a
/// comma-separated list of entity tags one of which equals [`etag`] by weak comparison (RFC
/// 9110 §8.8.3.2; our tags are weak, so `W/"3"` and `"3"` both match version 3).
pub fn etag_matches(header: &str, version: u64) -> bool {
    let header = header.trim();
    if header == "*" {
        return true;
    }
    let wanted = version.to_string();
    header.split(',').any(|tag| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").or_else(|| tag.strip_prefix("w/")).unwrap_or(tag);
        tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) == Some(wanted.as_str())
    })
}

fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meta(
    kind: ResourceKind,
    base: &str,
    id: &str,
    created: &DateTime<Utc>,
    modified: &DateTime<Utc>,
    version: u64,
) -> Value {
    json!({
        "resourceType": kind.name(),
        "created": timestamp(created),
        "lastModified": timestamp(modified),
        "location": format!("{base}{}/{id}", kind.endpoint()),
        "version": etag(version),
    })
}

fn put_opt(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        map.insert(key.into(), Value::String(value.clone()));
    }
}

/// The User resource; `base` is the SCIM base URL (`https://…/scim/v2`, a trailing `/` ignored).
pub fn render_user(user: &UserResource, base: &str) -> Value {
    let base = base.trim_end_matches('/');
    let mut map = Map::new();
    map.insert("schemas".into(), json!([ResourceKind::User.schema_urn()]));
    map.insert("id".into(), json!(user.id));
    put_opt(&mut map, "externalId", &user.external_id);
    map.insert("userName".into(), json!(user.user_name));
    if !user.name.is_empty() {
        let mut name = Map::new();
        put_opt(&mut name, "formatted", &user.name.formatted);
        put_opt(&mut name, "familyName", &user.name.family_name);
        put_opt(&mut name, "givenName", &user.name.given_name);
        map.insert("name".into(), Value::Object(name));
    }
    put_opt(&mut map, "displayName", &user.display_name);
    map.insert(
        "emails".into(),
        json!([{"value": user.email, "type": "work", "primary": true}]),
    );
    map.insert("active".into(), json!(user.active));
    if !user.groups.is_empty() {
        let groups: Vec<Value> = user
            .groups
            .iter()
            .map(|g| json!({"value": g.value, "display": g.display, "$ref": format!("{base}/Groups/{}", g.value)}))
            .collect();
        map.insert("groups".into(), Value::Array(groups));
    }
    map.insert(
        "meta".into(),
        meta(
            ResourceKind::User,
            base,
            &user.id,
            &user.created,
            &user.last_modified,
            user.version,
        ),
    );
    Value::Object(map)
}

/// The Group resource (`members` omitted when there are none).
pub fn render_group(group: &GroupResource, base: &str) -> Value {
    let base = base.trim_end_matches('/');
    let mut map = Map::new();
    map.insert("schemas".into(), json!([ResourceKind::Group.schema_urn()]));
    map.insert("id".into(), json!(group.id));
    put_opt(&mut map, "externalId", &group.external_id);
    map.insert("displayName".into(), json!(group.display_name));
    if !group.members.is_empty() {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|m| {
                json!({
                    "value": m.value,
                    "display": m.display,
                    "$ref": format!("{base}/Users/{}", m.value),
                    "type": "User",
                })
            })
            .collect();
        map.insert("members".into(), Value::Array(members));
    }
    map.insert(
        "meta".into(),
        meta(
            ResourceKind::Group,
            base,
            &group.id,
            &group.created,
            &group.last_modified,
            group.version,
        ),
    );
    Value::Object(map)
}

/// A list response: `{schemas, totalResults, startIndex, itemsPerPage, Resources}`.
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Paging of a list (RFC 7644 §3.4.2.4, API.md §10.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListParams {
    /// 1-based index of the first result.
    pub start_index: u64,
    /// How many results at most (0: only `totalResults`).
    pub count: u64,
}

impl Default for ListParams {
    fn default() -> Self {
        Self {
            start_index: 1,
            count: DEFAULT_COUNT,
        }
    }
}

/// An optional decimal integer query parameter, saturating far out of range; an empty value is
/// absent, anything else that is not an integer → 400 `invalidValue`.
fn integer(name: &str, text: Option<&str>) -> Result<Option<i128>, ScimError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScimError::invalid_value(format!(
            "'{name}' must be an integer, not '{text}'"
        )));
    }
    Ok(Some(text.parse::<i128>().unwrap_or(if text.starts_with('-') {
        i128::MIN
    } else {
        i128::MAX
    })))
}

impl ListParams {
    /// Reads `startIndex` (default 1, below 1 → 1) and `count` (default 100, negative → 0,
    /// at most 1000).
    pub fn parse(start_index: Option<&str>, count: Option<&str>) -> Result<Self, ScimError> {
        let start_index = integer("startIndex", start_index)?.map_or(1, |n| n.clamp(1, i128::from(u64::MAX)));
        let count = integer("count", count)?.map_or(i128::from(DEFAULT_COUNT), |n| n.clamp(0, i128::from(MAX_RESULTS)));
        Ok(Self {
            start_index: u64::try_from(start_index).unwrap_or(u64::MAX),
            count: u64::try_from(count).unwrap_or(MAX_RESULTS),
        })
    }

    /// How many results to skip (`startIndex - 1`).
    pub fn offset(&self) -> u64 {
        self.start_index.saturating_sub(1)
    }
}

/// One requested name: the top-level attribute (lower-cased) and its sub-attribute.
fn names(list: Option<&str>, resource: &Value) -> Vec<(String, Option<String>)> {
    let schemas: Vec<String> = get_ci(resource, "schemas")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).map(str::to_lowercase).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for item in list.unwrap_or_default().split(',') {
        let item = item.trim().to_lowercase();
        if item.is_empty() {
            continue;
        }
        let (top, path) = match item.rsplit_once(':') {
            // A core URN the resource has: the attribute itself.
            Some((urn, path)) if schemas.iter().any(|s| *s == urn) => (None, path.to_owned()),
            // Another URN: an attribute of the extension object named by it.
            Some((urn, path)) => (Some(urn.to_owned()), path.to_owned()),
            None => (None, item),
        };
        let (name, sub) = match path.split_once('.') {
            Some((name, sub)) => (name.to_owned(), Some(sub.to_owned())),
            None => (path, None),
        };
        out.push(match top {
            Some(urn) => (urn, Some(name)),
            None => (name, sub),
        });
    }
    out
}

/// Whether a top-level attribute is always returned.
fn always(key: &str) -> bool {
    key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("schemas")
}

/// Keeps (`keep`) or drops the sub-attributes `subs` of a complex or multi-valued complex value;
/// returns whether anything is left.
fn filter_subs(value: &mut Value, subs: &[String], keep: bool) -> bool {
    let retain = |object: &mut Map<String, Value>| {
        object.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)) == keep);
        !object.is_empty()
    };
    match value {
        Value::Object(object) => retain(object),
        Value::Array(items) => {
            items.retain_mut(|item| item.as_object_mut().is_some_and(retain));
            !items.is_empty()
        }
        _ => !keep,
    }
}

/// Applies `attributes` and `excludedAttributes` (comma-separated attribute names,
/// case-insensitive, `name.givenName` sub-attributes, core schema URN prefixes) to a rendered
/// resource, following RFC 7644 §3.9:
/// - `id` and `schemas` are always returned (`returned: always`);
/// - with `attributes`, only the named attributes (or sub-attributes) are returned, so `meta`,
///   whose `returned` is `default`, is left out unless it (or e.g. `meta.version`) is named;
/// - `excludedAttributes` removes the named attributes (or sub-attributes), `meta` included;
/// - with both, `attributes` selects first and `excludedAttributes` then removes from that;
/// - names of attributes the resource does not have are ignored, so is an empty list.
pub fn project(resource: &mut Value, attributes: Option<&str>, excluded: Option<&str>) {
    let selected = names(attributes, resource);
    let removed = names(excluded, resource);
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    if !selected.is_empty() {
        let keys: Vec<String> = object.keys().cloned().collect();
        for key in keys {
            if always(&key) {
                continue;
            }
            let lower = key.to_lowercase();
            let wanted: Vec<&Option<String>> = selected
                .iter()
                .filter(|(top, _)| *top == lower)
                .map(|(_, sub)| sub)
                .collect();
            if wanted.iter().any(|sub| sub.is_none()) {
                continue;
            }
            let subs: Vec<String> = wanted.into_iter().flatten().cloned().collect();
            let keep = !subs.is_empty() && object.get_mut(&key).is_some_and(|v| filter_subs(v, &subs, true));
            if !keep {
                object.remove(&key);
            }
        }
    }
    for (top, sub) in removed {
        let Some(key) = object.keys().find(|k| k.to_lowercase() == top).cloned() else {
            continue;
        };
        if always(&key) {
            continue;
        }
        let left = match sub {
            None => false,
            Some(sub) => object.get_mut(&key).is_some_and(|v| filter_subs(v, &[sub], false)),
        };
        if !left {
            object.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;
    use crate::scim::ScimType;

    const BASE: &str = "https://id.example.com/scim/v2/";

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
    }

    fn user() -> UserResource {
        UserResource {
            id: "u-1".into(),
            external_id: Some("ext-1".into()),
            user_name: "alice@acme.com".into(),
            name: NameInput {
                formatted: None,
                given_name: Some("Alice".into()),
                family_name: Some("Liddell".into()),
            },
            display_name: Some("Alice L.".into()),
            email: "alice@acme.com".into(),
            active: true,
            groups: vec![GroupRef {
                value: "org-1".into(),
                display: "Acme".into(),
            }],
            created: at(12),
            last_modified: at(13),
            version: 7,
        }
    }

    #[test]
    fn a_user_renders_every_assigned_attribute() {
        assert_eq!(
            render_user(&user(), BASE),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "u-1",
                "externalId": "ext-1",
                "userName": "alice@acme.com",
                "name": {"givenName": "Alice", "familyName": "Liddell"},
                "displayName": "Alice L.",
                "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
                "active": true,
                "groups": [{"value": "org-1", "display": "Acme", "$ref": "https://id.example.com/scim/v2/Groups/org-1"}],
                "meta": {
                    "resourceType": "User",
                    "created": "2025-03-01T12:00:00.000Z",
                    "lastModified": "2025-03-01T13:00:00.000Z",
                    "location": "https://id.example.com/scim/v2/Users/u-1",
                    "version": "W/\"7\"",
                },
            })
        );
    }

    #[test]
    fn a_user_omits_unassigned_attributes() {
        let bare = UserResource {
            external_id: None,
            name: NameInput::default(),
            display_name: None,
            groups: vec![],
            active: false,
            ..user()
        };
        let rendered = render_user(&bare, "https://x/scim/v2");
        for key in ["externalId", "name", "displayName", "groups"] {
            assert!(rendered.get(key).is_none(), "{key}");
        }
        assert_eq!(rendered["active"], false);
        assert_eq!(rendered["meta"]["location"], "https://x/scim/v2/Users/u-1");
    }

    #[test]
    fn a_group_renders_its_members_with_refs() {
        let group = GroupResource {
            id: "g-1".into(),
            external_id: None,
            display_name: "Engineers".into(),
            members: vec![MemberRef {
                value: "u-1".into(),
                display: "Alice".into(),
            }],
            created: at(1),
            last_modified: at(2),
            version: 1,
        };
        let rendered = render_group(&group, BASE);
        assert_eq!(
            rendered,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": "g-1",
                "displayName": "Engineers",
                "members": [{
                    "value": "u-1",
                    "display": "Alice",
                    "$ref": "https://id.example.com/scim/v2/Users/u-1",
                    "type": "User",
                }],
                "meta": {
                    "resourceType": "Group",
                    "created": "2025-03-01T01:00:00.000Z",
                    "lastModified": "2025-03-01T02:00:00.000Z",
                    "location": "https://id.example.com/scim/v2/Groups/g-1",
                    "version": "W/\"1\"",
                },
            })
        );
        let empty = render_group(
            &GroupResource {
                members: vec![],
                ..group
            },
            BASE,
        );
        assert!(empty.get("members").is_none());
    }

    #[test]
    fn every_rendered_attribute_is_described_by_the_schemas() {
        let group = GroupResource {
            id: "g".into(),
            external_id: Some("e".into()),
            display_name: "G".into(),
            members: vec![MemberRef {
                value: "u".into(),
                display: "U".into(),
            }],
            created: at(1),
            last_modified: at(1),
            version: 1,
        };
        let name = NameInput {
            formatted: Some("A L".into()),
            ..user().name
        };
        let cases = [
            (ResourceKind::User, render_user(&UserResource { name, ..user() }, BASE)),
            (ResourceKind::Group, render_group(&group, BASE)),
        ];
        for (kind, resource) in cases {
            for (key, value) in resource.as_object().unwrap() {
                if key == "schemas" {
                    continue;
                }
                let def = crate::scim::discovery::attribute(kind, key).unwrap_or_else(|| unreachable!("{key}"));
                let elements: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for element in elements {
                    for sub in element.as_object().into_iter().flat_map(|o| o.keys()) {
                        assert!(def.sub_attr(sub).is_some(), "{kind:?} {key}.{sub}");
                    }
                }
            }
        }
    }

    #[test]
    fn etags_are_weak_and_match_by_weak_comparison() {
        assert_eq!(etag(42), "W/\"42\"");
        let cases = [
            ("W/\"42\"", true),
            ("\"42\"", true),
            (" * ", true),
            ("W/\"41\", W/\"42\"", true),
            ("W/\"41\"", false),
            ("42", false),
            ("W/\"420\"", false),
            ("", false),
        ];
        for (header, expected) in cases {
            assert_eq!(etag_matches(header, 42), expected, "{header}");
        }
    }

    #[test]
    fn a_list_response_counts_its_items() {
        let list = list_response(vec![json!({"id": "a"}), json!({"id": "b"})], 10, 3);
        assert_eq!(
            list,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 10,
                "startIndex": 3,
                "itemsPerPage": 2,
                "Resources": [{"id": "a"}, {"id": "b"}],
            })
        );
    }

    #[test]
    fn list_params_follow_the_rfc_defaults_and_bounds() {
        let cases = [
            (None, None, 1, 100),
            (Some("5"), Some("20"), 5, 20),
            (Some("0"), Some("0"), 1, 0),
            (Some("-3"), Some("-1"), 1, 0),
            (Some(""), Some(" "), 1, 100),
            (Some("+2"), Some("1000"), 2, 1000),
            (None, Some("1001"), 1, 1000),
            (
                Some("99999999999999999999999999999999999999999"),
                Some("99999999999999999999999"),
                u64::MAX,
                1000,
            ),
        ];
        for (start, count, start_index, expected_count) in cases {
            let params = ListParams::parse(start, count).unwrap();
            assert_eq!(
                params,
                ListParams {
                    start_index,
                    count: expected_count
                },
                "{start:?} {count:?}"
            );
        }
        assert_eq!(ListParams::parse(Some("11"), None).unwrap().offset(), 10);
        assert_eq!(ListParams::default(), ListParams::parse(None, None).unwrap());
    }

    #[test]
    fn non_numeric_list_params_are_invalid_value() {
        for (start, count, name) in [
            (Some("abc"), None, "'startIndex'"),
            (None, Some("1.5"), "'count'"),
            (None, Some("-"), "'count'"),
            (Some("1e3"), None, "'startIndex'"),
        ] {
            let error = ListParams::parse(start, count).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
            assert!(error.detail.contains(name), "{}", error.detail);
        }
    }

    fn projected(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let mut resource = render_user(&user(), BASE);
        project(&mut resource, attributes, excluded);
        resource
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn attributes_select_what_is_returned_besides_id_and_schemas() {
        let full = render_user(&user(), BASE);
        let cases = [
            (Some("userName"), vec!["id", "schemas", "userName"]),
            (
                Some("USERNAME, displayName"),
                vec!["displayName", "id", "schemas", "userName"],
            ),
            (
                Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
                vec!["id", "schemas", "userName"],
            ),
            (Some("id,schemas"), vec!["id", "schemas"]),
            (Some("meta"), vec!["id", "meta", "schemas"]),
            (Some("title"), vec!["id", "schemas"]),
            (Some(" , "), keys(&full)),
            (None, keys(&full)),
        ];
        for (attributes, expected) in cases {
            assert_eq!(keys(&projected(attributes, None)), expected, "{attributes:?}");
        }
    }

    #[test]
    fn attributes_select_sub_attributes() {
        let resource = projected(Some("name.givenName,emails.value,meta.version"), None);
        assert_eq!(resource["name"], json!({"givenName": "Alice"}));
        assert_eq!(resource["emails"], json!([{"value": "alice@acme.com"}]));
        assert_eq!(resource["meta"], json!({"version": "W/\"7\""}));
        let whole = projected(Some("name,name.givenName"), None);
        assert_eq!(whole["name"], json!({"givenName": "Alice", "familyName": "Liddell"}));
        let nothing = projected(Some("name.middleName"), None);
        assert!(nothing.get("name").is_none());
    }

    #[test]
    fn excluded_attributes_remove_all_but_id_and_schemas() {
        let resource = projected(None, Some("groups,meta,id,schemas,name.givenName,emails.type"));
        assert_eq!(
            keys(&resource),
            [
                "active",
                "displayName",
                "emails",
                "externalId",
                "id",
                "name",
                "schemas",
                "userName"
            ]
        );
        assert_eq!(resource["name"], json!({"familyName": "Liddell"}));
        assert_eq!(
            resource["emails"],
            json!([{"value": "alice@acme.com", "primary": true}])
        );
        let no_name = projected(None, Some("name.givenName,name.familyName"));
        assert!(no_name.get("name").is_none());
    }

    #[test]
    fn excluded_members_leave_the_rest_of_a_group() {
        let group = GroupResource {
            id: "g".into(),
            external_id: None,
            display_name: "G".into(),
            members: vec![MemberRef {
                value: "u".into(),
                display: "U".into(),
            }],
            created: at(1),
            last_modified: at(1),
            version: 1,
        };
        let mut resource = render_group(&group, BASE);
        project(&mut resource, None, Some("members"));
        assert_eq!(keys(&resource), ["displayName", "id", "meta", "schemas"]);
    }

    #[test]
    fn attributes_then_excluded_attributes_both_apply() {
        let resource = projected(Some("userName,name"), Some("name.familyName"));
        assert_eq!(keys(&resource), ["id", "name", "schemas", "userName"]);
        assert_eq!(resource["name"], json!({"givenName": "Alice"}));
    }
}
