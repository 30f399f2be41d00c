//! SCIM PATCH (RFC 7644 §3.5.2, API.md §10.3–§10.4): the PatchOp request, its atomic
//! application to the JSON of a User, and its translation into changes of a Group.
//!
//! Choices where the contract is silent:
//! - `add` with the path `emails[<filter>].value` (or `emails[<filter>]`) that matches nothing
//!   creates the element, seeded from the filter's `eq` comparisons: Entra's
//!   `{"op":"Add","path":"emails[type eq \"work\"].value","value":"x@y"}` sets the value of the
//!   work e-mail, or appends `{type: "work", value: "x@y"}` if there is none. A filter that is
//!   not a conjunction of `eq` comparisons and matches nothing is 400 `noTarget`.
//! - `add` of an e-mail whose value (case-insensitive) is already listed updates that element
//!   instead of adding a duplicate; an element set `primary` clears `primary` on the others.
//! - `emails.value` without a filter applies to every element (RFC 7644 §3.5.2.3) and, on an
//!   empty list, creates one; removing the value of an element removes the element.
//! - The sub-attributes `emails.type`, `emails.primary`, `emails.display` and
//!   `name.middleName`, `name.honorificPrefix`, `name.honorificSuffix` are core but not
//!   supported as paths: those operations are ignored. A filter inside a path naming an
//!   attribute filters do not support (`emails[display eq "x"]`) is 400 `invalidFilter`.
//! - `replace` (or `add`) with the value `null` clears the attribute like `remove`; removing
//!   (or nulling) `active` is 400 `mutability` like `userName`, the group `displayName` too.
//! - `add`/`replace` on `name` merges the given sub-attributes (RFC 7644 §3.5.2.1/3).
//! - Group member paths: `members[value eq "<id>"]` (or-ed for several ids) with `remove`
//!   only; any other member filter is 400 `invalidFilter`, `add`/`replace` with a member filter
//!   400 `invalidPath`. Member sub-attribute paths (`members.display`) are ignored.
//! - A key of a path-less value that does not parse as a path is 400 `invalidPath`; a key
//!   equal to a core schema URN holding an object is read as that object's attributes.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrRef, CompareOp, Expr, Filter, Literal, ResourceKind, get_ci};
use super::input::{self, bool_value};
use super::path::AttrPath;

/// The schema URN of a PATCH body.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 100;

/// A PATCH operation's `op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

/// One PATCH operation.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<AttrPath>,
    /// The `value` member as sent (`Some(Value::Null)` for an explicit `null`).
    pub value: Option<Value>,
}

/// A PatchOp request: 1–100 operations, applied in order.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// Reads a PATCH body: `schemas` must contain the PatchOp URN (else 400 `invalidSyntax`),
    /// `Operations` (any case) must hold 1 to 100 operations (0 → `invalidSyntax`, more →
    /// `tooMany`), each with `op` `add|replace|remove` in any case, an optional `path` (400
    /// `invalidPath` if it does not parse) and a `value` (required for `add` and `replace`; a
    /// `remove` without path is 400 `noTarget`).
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
        }
        let listed = get_ci(body, "schemas").and_then(Value::as_array).is_some_and(|s| {
            s.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
        });
        if !listed {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain {PATCH_OP_SCHEMA}"
            )));
        }
        let operations = match get_ci(body, "Operations") {
            Some(Value::Array(ops)) => ops,
            Some(_) => return Err(ScimError::invalid_syntax("'Operations' must be an array")),
            None => return Err(ScimError::invalid_syntax("'Operations' is required")),
        };
        if operations.is_empty() {
            return Err(ScimError::invalid_syntax(
                "'Operations' must hold at least one operation",
            ));
        }
        if operations.len() > MAX_OPERATIONS {
            return Err(ScimError::too_many(format!(
                "{} operations; at most {MAX_OPERATIONS} are accepted",
                operations.len()
            )));
        }
        let operations = operations
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(op).map_err(|e| at_operation(e, i)))
            .collect::<Result<_, _>>()?;
        Ok(Self { operations })
    }
}

fn at_operation(mut error: ScimError, i: usize) -> ScimError {
    error.detail = format!("Operations[{i}]: {}", error.detail);
    error
}

fn parse_operation(op: &Value) -> Result<PatchOperation, ScimError> {
    if !op.is_object() {
        return Err(ScimError::invalid_syntax("an operation must be an object"));
    }
    let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        _ => return Err(ScimError::invalid_syntax("'op' must be add, replace or remove")),
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(AttrPath::parse(path)?),
        Some(_) => return Err(ScimError::invalid_syntax("'path' must be a string")),
    };
    let value = get_ci(op, "value").cloned();
    match (kind, &path, &value) {
        (PatchOpKind::Remove, None, _) => Err(ScimError::no_target("remove needs a 'path'")),
        (PatchOpKind::Add | PatchOpKind::Replace, _, None) => Err(ScimError::invalid_syntax(format!(
            "{} needs a 'value'",
            if kind == PatchOpKind::Add { "add" } else { "replace" }
        ))),
        _ => Ok(PatchOperation { op: kind, path, value }),
    }
}

/// The attributes of a path-less `value`: each key parsed as a path (a key naming a core schema
/// URN with an object value contributes that object's attributes).
fn value_paths(value: &Value, kind: ResourceKind) -> Result<Vec<(AttrPath, &Value)>, ScimError> {
    let Some(object) = value.as_object() else {
        return Err(ScimError::invalid_value(
            "without a 'path', the 'value' must be an object of attributes",
        ));
    };
    let mut out = Vec::with_capacity(object.len());
    for (key, v) in object {
        if key.eq_ignore_ascii_case(kind.schema_urn()) && v.is_object() {
            out.extend(value_paths(v, kind)?);
        } else {
            out.push((AttrPath::parse(key)?, v));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Users

/// Applies the operations in order to the JSON of a User (its rendered resource, or at least
/// its writable attributes `externalId`, `userName`, `name`, `displayName`, `emails`, `active`).
/// Atomic: on any error `user` is unchanged. Unsupported attributes, extensions and read-only
/// attributes (`id`, `meta`, `groups`, `schemas`) are ignored; lengths and e-mail validity are
/// left to [`crate::scim::UserInput::from_resource`] on the result.
pub fn apply_user_patch(user: &mut Value, req: &PatchRequest) -> Result<(), ScimError> {
    let mut work = user.clone();
    let Some(object) = work.as_object_mut() else {
        return Err(ScimError::internal("the user to patch is not a JSON object"));
    };
    for (i, op) in req.operations.iter().enumerate() {
        apply_user_operation(object, op).map_err(|e| at_operation(e, i))?;
    }
    *user = work;
    Ok(())
}

fn apply_user_operation(user: &mut Map<String, Value>, op: &PatchOperation) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => apply_user_path(user, op.op, path, op.value.as_ref()),
        None => {
            let value = op.value.as_ref().unwrap_or(&Value::Null);
            for (path, v) in value_paths(value, ResourceKind::User)? {
                apply_user_path(user, op.op, &path, Some(v))?;
            }
            Ok(())
        }
    }
}

/// The canonical name of `name` among `names` (case-insensitive).
fn canonical(name: &str, names: &[&'static str]) -> Option<&'static str> {
    names.iter().copied().find(|n| n.eq_ignore_ascii_case(name))
}

/// Sets `key`, dropping any member of the same name in another case.
fn set(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.retain(|k, _| !k.eq_ignore_ascii_case(key));
    map.insert(key.to_owned(), value);
}

/// The member `key` of `map`, matched case-insensitively.
fn member<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn unset(map: &mut Map<String, Value>, key: &str) {
    map.retain(|k, _| !k.eq_ignore_ascii_case(key));
}

/// `value`, or `None` for a removal (`remove`, or a `null` value).
fn target_value(op: PatchOpKind, value: Option<&Value>) -> Option<&Value> {
    match (op, value) {
        (PatchOpKind::Remove, _) | (_, None | Some(Value::Null)) => None,
        (_, Some(v)) => Some(v),
    }
}

fn no_sub_attributes(path: &AttrPath, attr: &str) -> Result<(), ScimError> {
    if path.filter.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{path}': '{attr}' is not multi-valued and takes no [filter]"
        )));
    }
    if let Some(sub) = &path.sub {
        return Err(ScimError::invalid_path(format!(
            "'{path}': '{attr}' has no sub-attribute '{sub}'"
        )));
    }
    Ok(())
}

fn apply_user_path(
    user: &mut Map<String, Value>,
    op: PatchOpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !path.is_core(ResourceKind::User) {
        return Ok(());
    }
    let supported = ["userName", "displayName", "externalId", "active", "name", "emails"];
    let Some(attr) = canonical(&path.attr, &supported) else {
        return Ok(());
    };
    let new = target_value(op, value);
    match attr {
        "name" => return apply_name(user, op, path, new),
        "emails" => return apply_emails(user, op, path, new),
        _ => no_sub_attributes(path, attr)?,
    }
    match (attr, new) {
        ("userName" | "active", None) => Err(ScimError::mutability(format!("'{attr}' cannot be removed"))),
        ("active", Some(v)) => {
            let active = bool_value(v).ok_or_else(|| ScimError::invalid_value("'active' must be a boolean"))?;
            set(user, attr, Value::Bool(active));
            Ok(())
        }
        (_, None) => {
            unset(user, attr);
            Ok(())
        }
        (_, Some(Value::String(s))) => {
            set(user, attr, Value::String(s.clone()));
            Ok(())
        }
        (_, Some(_)) => Err(ScimError::invalid_value(format!("'{attr}' must be a string"))),
    }
}

const NAME_PARTS: [&str; 3] = ["formatted", "givenName", "familyName"];
/// Sub-attributes of `name` the core schema defines that this server does not keep.
const NAME_UNSUPPORTED: [&str; 3] = ["middleName", "honorificPrefix", "honorificSuffix"];

fn set_name_part(name: &mut Map<String, Value>, part: &str, value: Option<&Value>) -> Result<(), ScimError> {
    match value {
        None | Some(Value::Null) => unset(name, part),
        Some(Value::String(s)) => set(name, part, Value::String(s.clone())),
        Some(_) => return Err(ScimError::invalid_value(format!("'name.{part}' must be a string"))),
    }
    Ok(())
}

fn apply_name(
    user: &mut Map<String, Value>,
    op: PatchOpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if path.filter.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{path}': 'name' is not multi-valued and takes no [filter]"
        )));
    }
    let mut name = match member(user, "name") {
        Some(Value::Object(name)) => name.clone(),
        _ => Map::new(),
    };
    match &path.sub {
        Some(sub) => {
            if canonical(sub, &NAME_UNSUPPORTED).is_some() {
                return Ok(());
            }
            let Some(part) = canonical(sub, &NAME_PARTS) else {
                return Err(ScimError::invalid_path(format!(
                    "'{path}': 'name' has no sub-attribute '{sub}'"
                )));
            };
            set_name_part(&mut name, part, value)?;
        }
        None if op == PatchOpKind::Remove || value.is_none() => name.clear(),
        None => {
            let Some(parts) = value.and_then(Value::as_object) else {
                return Err(ScimError::invalid_value("'name' must be an object"));
            };
            for (key, v) in parts {
                if let Some(part) = canonical(key, &NAME_PARTS) {
                    set_name_part(&mut name, part, Some(v))?;
                }
            }
        }
    }
    if name.is_empty() {
        unset(user, "name");
    } else {
        set(user, "name", Value::Object(name));
    }
    Ok(())
}

/// Sub-attributes of `emails` the core schema defines that this server does not patch alone.
const EMAIL_UNSUPPORTED: [&str; 3] = ["type", "primary", "display"];

/// One `emails` element from a value: an object whose `value`, `type`, `primary` are kept
/// (`primary` normalised to a boolean); `value` is required unless `partial`.
fn email_element(value: &Value, partial: bool) -> Result<Map<String, Value>, ScimError> {
    let Some(object) = value.as_object() else {
        return Err(ScimError::invalid_value(
            "'emails' values must be objects with a 'value'",
        ));
    };
    let mut element = Map::new();
    for (key, v) in object {
        match canonical(key, &["value", "type", "primary"]) {
            Some("primary") if !v.is_null() => {
                let primary =
                    bool_value(v).ok_or_else(|| ScimError::invalid_value("'emails.primary' must be a boolean"))?;
                element.insert("primary".into(), Value::Bool(primary));
            }
            Some(sub @ ("value" | "type")) => match v {
                Value::String(s) => {
                    element.insert(sub.into(), Value::String(s.clone()));
                }
                Value::Null => {}
                _ => return Err(ScimError::invalid_value(format!("'emails.{sub}' must be a string"))),
            },
            _ => {}
        }
    }
    if !partial && !element.get("value").is_some_and(Value::is_string) {
        return Err(ScimError::invalid_value("an 'emails' value needs a 'value'"));
    }
    Ok(element)
}

fn email_elements(value: &Value) -> Result<Vec<Map<String, Value>>, ScimError> {
    match value {
        Value::Array(items) => items.iter().map(|v| email_element(v, false)).collect(),
        Value::Object(_) => Ok(vec![email_element(value, false)?]),
        _ => Err(ScimError::invalid_value(
            "'emails' must be an array of objects with a 'value'",
        )),
    }
}

fn email_value(value: &Value) -> Result<Value, ScimError> {
    match value {
        Value::String(_) => Ok(value.clone()),
        _ => Err(ScimError::invalid_value("'emails.value' must be a string")),
    }
}

fn same_address(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    match (
        a.get("value").and_then(Value::as_str),
        b.get("value").and_then(Value::as_str),
    ) {
        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => false,
    }
}

/// The element a filter's `eq` comparisons describe (`type eq "work"` → `{type: "work"}`), or
/// `None` if the filter is not a conjunction of such comparisons.
fn seed(expr: &Expr) -> Option<Map<String, Value>> {
    let mut element = Map::new();
    let terms = match expr {
        Expr::And(terms) => terms.as_slice(),
        other => std::slice::from_ref(other),
    };
    for term in terms {
        let Expr::Compare(
            AttrRef {
                schema: None,
                name,
                sub: None,
            },
            CompareOp::Eq,
            literal,
        ) = term
        else {
            return None;
        };
        let sub = canonical(name, &["value", "type", "primary"])?;
        let value = match literal {
            Literal::String(s) if sub == "primary" => Value::Bool(bool_value(&Value::String(s.clone()))?),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Bool(b) if sub == "primary" => Value::Bool(*b),
            _ => return None,
        };
        element.insert(sub.into(), value);
    }
    Some(element)
}

/// Checks a path filter on `emails` against what filters support (400 `invalidFilter`).
fn check_email_filter(filter: &Filter) -> Result<(), ScimError> {
    let attr = AttrRef {
        schema: None,
        name: "emails".into(),
        sub: None,
    };
    Filter::from_expr(Expr::ValuePath(attr, Box::new(filter.expr().clone()))).check(ResourceKind::User)
}

fn apply_emails(
    user: &mut Map<String, Value>,
    op: PatchOpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let sub_value = match path.sub.as_deref() {
        None => false,
        Some(sub) if sub.eq_ignore_ascii_case("value") => true,
        Some(sub) if canonical(sub, &EMAIL_UNSUPPORTED).is_some() => return Ok(()),
        Some(sub) => {
            return Err(ScimError::invalid_path(format!(
                "'{path}': 'emails' has no sub-attribute '{sub}'"
            )));
        }
    };
    let mut list: Vec<Map<String, Value>> = match member(user, "emails") {
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_object().cloned()).collect(),
        Some(Value::Object(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut touched: Vec<usize> = Vec::new();
    match (&path.filter, sub_value, value) {
        // emails
        (None, false, None) => list.clear(),
        (None, false, Some(v)) => {
            let elements = email_elements(v)?;
            if op == PatchOpKind::Replace {
                list.clear();
            }
            for element in elements {
                match list.iter().position(|e| same_address(e, &element)) {
                    Some(i) => {
                        list[i].extend(element);
                        touched.push(i);
                    }
                    None => {
                        list.push(element);
                        touched.push(list.len() - 1);
                    }
                }
            }
        }
        // emails.value
        (None, true, None) => list.clear(),
        (None, true, Some(v)) => {
            let v = email_value(v)?;
            if list.is_empty() {
                list.push(Map::new());
            }
            for element in &mut list {
                element.insert("value".into(), v.clone());
            }
        }
        // emails[filter] and emails[filter].value
        (Some(filter), _, new) => {
            check_email_filter(filter)?;
            let matched: Vec<usize> = (0..list.len())
                .filter(|&i| filter.matches(&Value::Object(list[i].clone())))
                .collect();
            if matched.is_empty() && !(op == PatchOpKind::Add && new.is_some()) {
                return Err(ScimError::no_target(format!("'{path}' matches no e-mail")));
            }
            let update = match (sub_value, new) {
                (_, None) => None,
                (true, Some(v)) => Some(Map::from_iter([("value".to_owned(), email_value(v)?)])),
                (false, Some(v)) => Some(email_element(v, op == PatchOpKind::Add)?),
            };
            match update {
                None => {
                    let mut i = 0;
                    list.retain(|_| {
                        i += 1;
                        !matched.contains(&(i - 1))
                    });
                }
                Some(update) if matched.is_empty() => {
                    let Some(mut element) = seed(filter.expr()) else {
                        return Err(ScimError::no_target(format!("'{path}' matches no e-mail")));
                    };
                    element.extend(update);
                    list.push(element);
                    touched.push(list.len() - 1);
                }
                Some(update) => {
                    for &i in &matched {
                        if op == PatchOpKind::Replace && !sub_value {
                            list[i] = update.clone();
                        } else {
                            list[i].extend(update.clone());
                        }
                        touched.push(i);
                    }
                }
            }
        }
    }
    list.retain(|e| e.get("value").is_some_and(Value::is_string));
    if let Some(&keep) = touched
        .iter()
        .rev()
        .find(|&&i| list.get(i).and_then(|e| e.get("primary")) == Some(&Value::Bool(true)))
    {
        for (i, element) in list.iter_mut().enumerate() {
            if i != keep && element.get("primary") == Some(&Value::Bool(true)) {
                element.insert("primary".into(), Value::Bool(false));
            }
        }
    }
    if list.is_empty() {
        unset(user, "emails");
    } else {
        set(
            user,
            "emails",
            Value::Array(list.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Groups

/// A change a PATCH makes to a Group, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// These users join the group.
    AddMembers(Vec<String>),
    /// These users leave the group.
    RemoveMembers(Vec<String>),
    /// The members become exactly these users.
    ReplaceMembers(Vec<String>),
    /// The group is renamed (trimmed, 1–100 characters).
    DisplayName(String),
    /// The `externalId` is set or cleared.
    ExternalId(Option<String>),
}

/// The changes a PATCH makes to a Group: `members` added, removed (by
/// `members[value eq "<id>"]` or a value list; `remove` of `members` without value removes
/// all) or replaced, `displayName` and `externalId` set. Other attributes are ignored.
pub fn group_changes(req: &PatchRequest) -> Result<Vec<GroupChange>, ScimError> {
    let mut changes = Vec::new();
    for (i, op) in req.operations.iter().enumerate() {
        let result = match &op.path {
            Some(path) => group_path(&mut changes, op.op, path, op.value.as_ref()),
            None => {
                let value = op.value.as_ref().unwrap_or(&Value::Null);
                value_paths(value, ResourceKind::Group).and_then(|paths| {
                    paths
                        .into_iter()
                        .try_for_each(|(path, v)| group_path(&mut changes, op.op, &path, Some(v)))
                })
            }
        };
        result.map_err(|e| at_operation(e, i))?;
    }
    Ok(changes)
}

/// The ids a `members[…]` filter names: `value eq "<id>"`, or several or-ed.
fn filter_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    let terms = match filter.expr() {
        Expr::Or(terms) => terms.as_slice(),
        other => std::slice::from_ref(other),
    };
    terms
        .iter()
        .map(|term| match term {
            Expr::Compare(attr, CompareOp::Eq, Literal::String(id))
                if attr.schema.is_none() && attr.sub.is_none() && attr.name.eq_ignore_ascii_case("value") =>
            {
                Ok(id.clone())
            }
            _ => Err(ScimError::invalid_filter(format!(
                "members[{filter}]: only members[value eq \"<user id>\"] (or several joined by or) is supported"
            ))),
        })
        .collect()
}

fn group_path(
    changes: &mut Vec<GroupChange>,
    op: PatchOpKind,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !path.is_core(ResourceKind::Group) {
        return Ok(());
    }
    let Some(attr) = canonical(&path.attr, &["members", "displayName", "externalId"]) else {
        return Ok(());
    };
    let new = target_value(op, value);
    if attr != "members" {
        no_sub_attributes(path, attr)?;
        let change = match (attr, new) {
            ("displayName", None) => return Err(ScimError::mutability("'displayName' cannot be removed")),
            ("displayName", Some(v)) => GroupChange::DisplayName(input::group_name(v)?),
            (_, None) => GroupChange::ExternalId(None),
            (_, Some(v)) => GroupChange::ExternalId(input::external_id(v)?),
        };
        changes.push(change);
        return Ok(());
    }
    if let Some(sub) = &path.sub {
        if canonical(sub, &["value", "display", "$ref", "type"]).is_some() {
            return Ok(());
        }
        return Err(ScimError::invalid_path(format!(
            "'{path}': 'members' has no sub-attribute '{sub}'"
        )));
    }
    if let Some(filter) = &path.filter {
        if op != PatchOpKind::Remove {
            return Err(ScimError::invalid_path(format!(
                "'{path}': a members[filter] path is supported with remove only"
            )));
        }
        changes.push(GroupChange::RemoveMembers(filter_ids(filter)?));
        return Ok(());
    }
    let change = match (op, value) {
        (PatchOpKind::Remove, None | Some(Value::Null)) | (PatchOpKind::Replace, Some(Value::Null)) => {
            GroupChange::ReplaceMembers(Vec::new())
        }
        (PatchOpKind::Remove, Some(v)) => GroupChange::RemoveMembers(input::member_ids(v)?),
        (PatchOpKind::Replace, Some(v)) => GroupChange::ReplaceMembers(input::member_ids(v)?),
        (PatchOpKind::Add, Some(v)) if !v.is_null() => GroupChange::AddMembers(input::member_ids(v)?),
        (PatchOpKind::Add | PatchOpKind::Replace, _) => return Ok(()),
    };
    changes.push(change);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::scim::{ScimType, UserInput};

    fn request(operations: Value) -> PatchRequest {
        PatchRequest::parse(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations}))
            .unwrap_or_else(|e| unreachable!("{operations}: {e}"))
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u-1",
            "externalId": "ext-1",
            "userName": "alice@acme.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "displayName": "Alice L.",
            "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
            "active": true,
            "groups": [{"value": "org-1", "display": "Acme"}],
            "meta": {"resourceType": "User", "version": "W/\"1\""},
        })
    }

    fn patched(operations: Value) -> Value {
        let mut user = user();
        apply_user_patch(&mut user, &request(operations)).unwrap_or_else(|e| unreachable!("{e}"));
        user
    }

    fn patch_error(operations: Value) -> ScimError {
        let mut user = user();
        let error = apply_user_patch(&mut user, &request(operations)).unwrap_err();
        assert_eq!(user, self::user(), "a failed PATCH changed the user");
        error
    }

    #[test]
    fn a_request_is_read_with_any_case_of_names_and_ops() {
        let req = PatchRequest::parse(&json!({
            "schemas": [PATCH_OP_SCHEMA],
            "operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"OP": "ADD", "Path": "emails[type eq \"work\"].value", "Value": "x@y"},
                {"op": "remove", "path": "members[value eq \"u-1\"]"},
            ],
        }))
        .unwrap();
        let ops: Vec<PatchOpKind> = req.operations.iter().map(|o| o.op).collect();
        assert_eq!(ops, [PatchOpKind::Replace, PatchOpKind::Add, PatchOpKind::Remove]);
        assert_eq!(req.operations[1].value, Some(json!("x@y")));
        assert_eq!(req.operations[1].path.as_ref().unwrap().sub.as_deref(), Some("value"));
        assert_eq!(req.operations[2].value, None);
    }

    #[test]
    fn bad_requests_are_refused_with_the_rfc_scim_type() {
        let op = json!({"op": "add", "path": "displayName", "value": "x"});
        let cases = [
            (json!([]), ScimType::InvalidSyntax, "must be a JSON object"),
            (
                json!({"Operations": [op]}),
                ScimType::InvalidSyntax,
                "'schemas' must contain",
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [op]}),
                ScimType::InvalidSyntax,
                "'schemas' must contain",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA]}),
                ScimType::InvalidSyntax,
                "'Operations' is required",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": {}}),
                ScimType::InvalidSyntax,
                "must be an array",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}),
                ScimType::InvalidSyntax,
                "at least one",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": vec![op.clone(); 101]}),
                ScimType::TooMany,
                "101 operations; at most 100",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [1]}),
                ScimType::InvalidSyntax,
                "Operations[0]: an operation must be an object",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [op, {"op": "move", "path": "x"}]}),
                ScimType::InvalidSyntax,
                "Operations[1]: 'op' must be add, replace or remove",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"path": "x"}]}),
                ScimType::InvalidSyntax,
                "'op' must be",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "path": 3, "value": 1}]}),
                ScimType::InvalidSyntax,
                "'path' must be a string",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "add", "path": "x"}]}),
                ScimType::InvalidSyntax,
                "add needs a 'value'",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "replace"}]}),
                ScimType::InvalidSyntax,
                "replace needs a 'value'",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "remove"}]}),
                ScimType::NoTarget,
                "remove needs a 'path'",
            ),
            (
                json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "remove", "path": "emails[type eq"}]}),
                ScimType::InvalidPath,
                "Operations[0]: invalid path",
            ),
        ];
        for (body, scim_type, detail) in cases {
            let error = PatchRequest::parse(&body).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.scim_type, Some(scim_type), "{body}");
            assert!(error.detail.contains(detail), "{body}: {}", error.detail);
        }
        let hundred = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": vec![op; 100]});
        assert_eq!(PatchRequest::parse(&hundred).unwrap().operations.len(), 100);
    }

    #[test]
    fn okta_deactivation_sets_active_false() {
        let user = patched(json!([{"op": "replace", "value": {"active": false}}]));
        assert_eq!(user["active"], false);
        assert_eq!(user["userName"], "alice@acme.com");
    }

    #[test]
    fn entra_string_booleans_and_mixed_case_ops_are_accepted() {
        let cases = [
            (json!([{"op": "Replace", "path": "active", "value": "False"}]), false),
            (json!([{"op": "Replace", "path": "active", "value": "false"}]), false),
            (json!([{"op": "Add", "value": {"active": "FALSE"}}]), false),
            (json!([{"op": "Replace", "path": "active", "value": "True"}]), true),
            (json!([{"op": "replace", "path": "ACTIVE", "value": true}]), true),
        ];
        for (ops, active) in cases {
            assert_eq!(patched(ops.clone())["active"], active, "{ops}");
        }
    }

    #[test]
    fn simple_attributes_are_set_and_removed() {
        let user = patched(json!([
            {"op": "replace", "path": "userName", "value": "a2@acme.com"},
            {"op": "add", "path": "displayName", "value": "Alice"},
            {"op": "remove", "path": "externalId"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "Smith"},
            {"op": "Replace", "path": "name.givenName", "value": null},
        ]));
        assert_eq!(user["userName"], "a2@acme.com");
        assert_eq!(user["displayName"], "Alice");
        assert!(user.get("externalId").is_none());
        assert_eq!(user["name"], json!({"familyName": "Smith"}));
    }

    #[test]
    fn a_value_without_path_sets_each_attribute_dotted_keys_included() {
        let user = patched(json!([{
            "op": "replace",
            "value": {
                "EXTERNALID": "ext-2",
                "name.givenName": "Al",
                "name": {"formatted": "Al Liddell", "middleName": "ignored"},
                "id": "other",
                "meta": {"version": "x"},
                "groups": [],
                "schemas": [],
                "title": "CEO",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
                "urn:ietf:params:scim:schemas:core:2.0:User": {"displayName": "A.L."},
            },
        }]));
        let mut expected = self::user();
        expected["externalId"] = json!("ext-2");
        expected["displayName"] = json!("A.L.");
        expected["name"] = json!({"givenName": "Al", "familyName": "Liddell", "formatted": "Al Liddell"});
        assert_eq!(user, expected);
    }

    #[test]
    fn unsupported_and_read_only_paths_are_ignored() {
        for path in [
            "title",
            "nickName",
            "name.middleName",
            "name.honorificPrefix",
            "emails.type",
            "emails[type eq \"work\"].primary",
            "emails.display",
            "id",
            "meta.lastModified",
            "groups",
            "phoneNumbers[type eq \"work\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
        ] {
            for op in ["add", "replace", "remove"] {
                let user = patched(json!([{"op": op, "path": path, "value": "x"}]));
                assert_eq!(user, self::user(), "{op} {path}");
            }
        }
    }

    #[test]
    fn the_entra_work_email_path_updates_the_work_email() {
        let user = patched(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "alice.l@acme.com"},
        ]));
        assert_eq!(
            user["emails"],
            json!([{"value": "alice.l@acme.com", "type": "work", "primary": true}])
        );
        let user = patched(json!([
            {"op": "Replace", "path": "emails[type eq \"Work\"].value", "value": "a3@acme.com"},
        ]));
        assert_eq!(user["emails"][0]["value"], "a3@acme.com");
    }

    #[test]
    fn add_on_a_filter_that_matches_nothing_creates_the_element_from_the_filter() {
        let user = patched(json!([
            {"op": "remove", "path": "emails"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@acme.com"},
        ]));
        assert_eq!(user["emails"], json!([{"type": "work", "value": "new@acme.com"}]));
        let user = patched(json!([
            {"op": "add", "path": "emails[type eq \"home\" and primary eq true]", "value": {"value": "h@x.io"}},
        ]));
        assert_eq!(
            user["emails"],
            json!([
                {"value": "alice@acme.com", "type": "work", "primary": false},
                {"type": "home", "primary": true, "value": "h@x.io"},
            ])
        );
    }

    #[test]
    fn emails_are_added_replaced_and_removed() {
        let cases = [
            (
                json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.io", "type": "home"}]}]),
                json!([{"value": "alice@acme.com", "type": "work", "primary": true}, {"value": "b@x.io", "type": "home"}]),
            ),
            (
                json!([{"op": "add", "path": "emails", "value": [{"value": "ALICE@acme.com", "type": "home"}]}]),
                json!([{"value": "ALICE@acme.com", "type": "home", "primary": true}]),
            ),
            (
                json!([{"op": "add", "path": "emails", "value": {"value": "b@x.io", "primary": "True"}}]),
                json!([{"value": "alice@acme.com", "type": "work", "primary": false}, {"value": "b@x.io", "primary": true}]),
            ),
            (
                json!([{"op": "replace", "path": "emails", "value": [{"value": "b@x.io", "type": "work", "display": "B"}]}]),
                json!([{"value": "b@x.io", "type": "work"}]),
            ),
            (
                json!([{"op": "replace", "path": "emails.value", "value": "c@x.io"}]),
                json!([{"value": "c@x.io", "type": "work", "primary": true}]),
            ),
            (
                json!([{"op": "replace", "path": "emails[value eq \"alice@acme.com\"]", "value": {"value": "d@x.io"}}]),
                json!([{"value": "d@x.io"}]),
            ),
            (
                json!([{"op": "add", "path": "emails[value eq \"alice@acme.com\"]", "value": {"type": "other"}}]),
                json!([{"value": "alice@acme.com", "type": "other", "primary": true}]),
            ),
            (
                json!([{"op": "add", "value": {"emails": [{"value": "e@x.io"}]}}, {"op": "remove", "path": "emails[type eq \"work\"]"}]),
                json!([{"value": "e@x.io"}]),
            ),
        ];
        for (ops, emails) in cases {
            assert_eq!(patched(ops.clone())["emails"], emails, "{ops}");
        }
        for ops in [
            json!([{"op": "remove", "path": "emails"}]),
            json!([{"op": "remove", "path": "emails.value"}]),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
            json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]),
            json!([{"op": "replace", "path": "emails", "value": null}]),
            json!([{"op": "replace", "path": "emails", "value": []}]),
        ] {
            assert!(patched(ops.clone()).get("emails").is_none(), "{ops}");
        }
    }

    #[test]
    fn emails_value_on_a_user_without_emails_creates_one() {
        let mut user = json!({"userName": "a"});
        let req = request(json!([{"op": "add", "path": "emails.value", "value": "a@x.io"}]));
        apply_user_patch(&mut user, &req).unwrap();
        assert_eq!(user, json!({"userName": "a", "emails": [{"value": "a@x.io"}]}));
    }

    #[test]
    fn a_patched_user_reads_back_as_input() {
        let user = patched(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@acme.com"},
            {"op": "Replace", "path": "active", "value": "False"},
        ]));
        let input = UserInput::from_resource(&user).unwrap();
        assert_eq!(input.primary_email(), Some("new@acme.com"));
        assert_eq!(input.active, Some(false));
        assert_eq!(input.user_name.as_deref(), Some("alice@acme.com"));
    }

    #[test]
    fn failing_operations_give_their_error_and_change_nothing() {
        let cases = [
            (
                json!([{"op": "remove", "path": "userName"}]),
                ScimType::Mutability,
                "'userName' cannot be removed",
            ),
            (
                json!([{"op": "replace", "path": "userName", "value": null}]),
                ScimType::Mutability,
                "'userName'",
            ),
            (
                json!([{"op": "remove", "path": "active"}]),
                ScimType::Mutability,
                "'active' cannot be removed",
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": "ok"}, {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@y"}]),
                ScimType::NoTarget,
                "Operations[1]: 'emails[type eq \"home\"].value' matches no e-mail",
            ),
            (
                json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
                ScimType::NoTarget,
                "matches no e-mail",
            ),
            (
                json!([{"op": "add", "path": "emails[value co \"x\"].value", "value": "x@y"}]),
                ScimType::NoTarget,
                "matches no e-mail",
            ),
            (
                json!([{"op": "replace", "path": "emails.foo", "value": "x"}]),
                ScimType::InvalidPath,
                "'emails' has no sub-attribute 'foo'",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"work\"].foo", "value": "x"}]),
                ScimType::InvalidPath,
                "no sub-attribute 'foo'",
            ),
            (
                json!([{"op": "replace", "path": "name.foo", "value": "x"}]),
                ScimType::InvalidPath,
                "'name' has no sub-attribute 'foo'",
            ),
            (
                json!([{"op": "replace", "path": "name[givenName eq \"x\"]", "value": "x"}]),
                ScimType::InvalidPath,
                "takes no [filter]",
            ),
            (
                json!([{"op": "replace", "path": "userName.x", "value": "x"}]),
                ScimType::InvalidPath,
                "'userName' has no sub-attribute 'x'",
            ),
            (
                json!([{"op": "replace", "path": "active[value eq true]", "value": "x"}]),
                ScimType::InvalidPath,
                "takes no [filter]",
            ),
            (
                json!([{"op": "replace", "value": {"a[": 1}}]),
                ScimType::InvalidPath,
                "invalid path 'a['",
            ),
            (
                json!([{"op": "replace", "path": "emails[display eq \"x\"]", "value": {"value": "a@b"}}]),
                ScimType::InvalidFilter,
                "emails.display",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "yes"}]),
                ScimType::InvalidValue,
                "'active' must be a boolean",
            ),
            (
                json!([{"op": "replace", "path": "userName", "value": 5}]),
                ScimType::InvalidValue,
                "'userName' must be a string",
            ),
            (
                json!([{"op": "replace", "path": "name", "value": "Bob"}]),
                ScimType::InvalidValue,
                "'name' must be an object",
            ),
            (
                json!([{"op": "replace", "path": "name.givenName", "value": 1}]),
                ScimType::InvalidValue,
                "'name.givenName' must be a string",
            ),
            (
                json!([{"op": "add", "path": "emails", "value": [{"type": "work"}]}]),
                ScimType::InvalidValue,
                "needs a 'value'",
            ),
            (
                json!([{"op": "add", "path": "emails", "value": "a@b"}]),
                ScimType::InvalidValue,
                "'emails' must be an array",
            ),
            (
                json!([{"op": "add", "path": "emails.value", "value": 3}]),
                ScimType::InvalidValue,
                "'emails.value' must be a string",
            ),
            (
                json!([{"op": "add", "path": "emails", "value": [{"value": "a@b", "primary": "maybe"}]}]),
                ScimType::InvalidValue,
                "'emails.primary'",
            ),
            (
                json!([{"op": "replace", "value": "active"}]),
                ScimType::InvalidValue,
                "must be an object of attributes",
            ),
        ];
        for (ops, scim_type, detail) in cases {
            let error = patch_error(ops.clone());
            assert_eq!(error.status, 400, "{ops}");
            assert_eq!(error.scim_type, Some(scim_type), "{ops}");
            assert!(error.detail.contains(detail), "{ops}: {}", error.detail);
        }
    }

    #[test]
    fn a_later_failure_undoes_the_earlier_operations() {
        let mut user = user();
        let req = request(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "value": {"active": false}},
            {"op": "remove", "path": "emails"},
            {"op": "remove", "path": "userName"},
        ]));
        let error = apply_user_patch(&mut user, &req).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::Mutability));
        assert!(error.detail.starts_with("Operations[3]:"), "{}", error.detail);
        assert_eq!(user, self::user());
    }

    fn changes(operations: Value) -> Vec<GroupChange> {
        group_changes(&request(operations)).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn group_operations_become_changes() {
        let cases = [
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "u-1", "display": "A"}, {"value": "u-2"}]}]),
                vec![GroupChange::AddMembers(ids(&["u-1", "u-2"]))],
            ),
            (
                json!([{"op": "Add", "value": {"members": [{"value": "u-1"}]}}]),
                vec![GroupChange::AddMembers(ids(&["u-1"]))],
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}]),
                vec![GroupChange::RemoveMembers(ids(&["u-1"]))],
            ),
            (
                json!([{"op": "Remove", "path": "members[value eq \"u-1\" or value eq \"u-2\"]"}]),
                vec![GroupChange::RemoveMembers(ids(&["u-1", "u-2"]))],
            ),
            (
                json!([{"op": "Remove", "path": "members", "value": [{"value": "u-3"}]}]),
                vec![GroupChange::RemoveMembers(ids(&["u-3"]))],
            ),
            (
                json!([{"op": "remove", "path": "members"}]),
                vec![GroupChange::ReplaceMembers(vec![])],
            ),
            (
                json!([{"op": "replace", "path": "members", "value": [{"value": "u-4"}]}]),
                vec![GroupChange::ReplaceMembers(ids(&["u-4"]))],
            ),
            (
                json!([{"op": "replace", "value": {"id": "g-1", "displayName": " Eng "}}]),
                vec![GroupChange::DisplayName("Eng".into())],
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": "Ops"}]),
                vec![GroupChange::DisplayName("Ops".into())],
            ),
            (
                json!([{"op": "add", "path": "externalId", "value": "okta-1"}, {"op": "remove", "path": "externalId"}]),
                vec![
                    GroupChange::ExternalId(Some("okta-1".into())),
                    GroupChange::ExternalId(None),
                ],
            ),
            (
                json!([{"op": "replace", "value": {"externalId": null}}]),
                vec![GroupChange::ExternalId(None)],
            ),
            (
                json!([
                    {"op": "add", "path": "description", "value": "x"},
                    {"op": "replace", "path": "urn:example:ext:1.0:Group:owner", "value": "x"},
                    {"op": "replace", "path": "members.display", "value": "x"},
                    {"op": "replace", "path": "meta", "value": {}},
                ]),
                vec![],
            ),
        ];
        for (ops, expected) in cases {
            assert_eq!(changes(ops.clone()), expected, "{ops}");
        }
    }

    #[test]
    fn bad_group_operations_are_refused() {
        let cases = [
            (
                json!([{"op": "add", "path": "members", "value": [{"display": "A"}]}]),
                ScimType::InvalidValue,
                "'members[0].value'",
            ),
            (
                json!([{"op": "add", "path": "members", "value": "u-1"}]),
                ScimType::InvalidValue,
                "must be an array",
            ),
            (
                json!([{"op": "remove", "path": "members[display eq \"A\"]"}]),
                ScimType::InvalidFilter,
                "only members[value eq",
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"u\"]", "value": [{"value": "v"}]}]),
                ScimType::InvalidPath,
                "remove only",
            ),
            (
                json!([{"op": "add", "path": "members.foo", "value": 1}]),
                ScimType::InvalidPath,
                "no sub-attribute 'foo'",
            ),
            (
                json!([{"op": "remove", "path": "displayName"}]),
                ScimType::Mutability,
                "'displayName' cannot be removed",
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": ""}]),
                ScimType::InvalidValue,
                "1 to 100",
            ),
            (
                json!([{"op": "replace", "path": "displayName.x", "value": "a"}]),
                ScimType::InvalidPath,
                "no sub-attribute",
            ),
            (
                json!([{"op": "replace", "path": "externalId", "value": 5}]),
                ScimType::InvalidValue,
                "'externalId' must be a string",
            ),
            (
                json!([{"op": "replace", "value": ["x"]}]),
                ScimType::InvalidValue,
                "must be an object of attributes",
            ),
        ];
        for (ops, scim_type, detail) in cases {
            let error = group_changes(&request(ops.clone())).unwrap_err();
            assert_eq!(error.scim_type, Some(scim_type), "{ops}");
            assert!(error.detail.contains(detail), "{ops}: {}", error.detail);
        }
    }

    #[test]
    fn patch_paths_agree_with_the_schema() {
        // Every attribute a User PATCH writes is read-write in /Schemas (or a common one).
        for name in ["userName", "displayName", "externalId", "active", "name", "emails"] {
            let def = crate::scim::discovery::attribute(ResourceKind::User, name).unwrap();
            assert_eq!(def.mutability, crate::scim::discovery::Mutability::ReadWrite, "{name}");
        }
        for name in NAME_PARTS {
            let name_def = crate::scim::discovery::attribute(ResourceKind::User, "name").unwrap();
            assert!(name_def.sub_attr(name).is_some(), "{name}");
        }
        for name in ["members", "displayName", "externalId"] {
            let def = crate::scim::discovery::attribute(ResourceKind::Group, name).unwrap();
            assert_eq!(def.mutability, crate::scim::discovery::Mutability::ReadWrite, "{name}");
        }
    }
}
