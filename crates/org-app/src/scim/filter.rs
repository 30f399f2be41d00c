//! SCIM filters (RFC 7644 §3.4.2.2, API.md §10.2): a recursive-descent parser into our own
//! AST, a check of the attributes against what this server supports, and evaluation against
//! the JSON of a rendered resource.
//!
//! The parser is our own: the `scim-filter` crate (0.2.3) was tried first and parses
//! `a and b or c` as `a and (b or c)`, has no string escapes, rejects `""`, negative numbers
//! and surrounding blanks, and keeps an attribute's schema URN private, which the
//! core-schema check needs.
//!
//! Grammar (RFC 7644 figure 1, keywords case-insensitive, `and` binding tighter than `or`):
//!
//! ```text
//! filter    = term *("or" term)
//! term      = factor *("and" factor)
//! factor    = "(" filter ")" / "not" "(" filter ")" / attrPath "[" valFilter "]"
//!           / attrPath "pr" / attrPath compareOp compValue
//! attrPath  = [URN ":"] ATTRNAME ["." ATTRNAME]
//! compValue = JSON string / JSON number / true / false / null
//! ```
//!
//! A `valFilter` is a filter without nested value paths whose attribute names are
//! sub-attributes of the bracketed attribute.

use std::fmt;

use serde_json::{Number, Value};

use super::discovery::{self, AttrDef, AttrType};
use super::error::ScimError;

/// Parentheses and brackets nest at most this deep (deeper input would only exhaust the stack).
const MAX_DEPTH: usize = 32;

/// The two resource types of this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The core schema URN of the kind.
    pub fn schema_urn(self) -> &'static str {
        match self {
            Self::User => "urn:ietf:params:scim:schemas:core:2.0:User",
            Self::Group => "urn:ietf:params:scim:schemas:core:2.0:Group",
        }
    }

    /// `User` or `Group` (the resource type's id and `meta.resourceType`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// `/Users` or `/Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }
}

/// An attribute path `[urn:]name[.sub]` as written (names keep their case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrRef {
    /// The schema URN prefix, if any.
    pub schema: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute name, if any.
    pub sub: Option<String>,
}

impl fmt::Display for AttrRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        let ops = [
            ("eq", Self::Eq),
            ("ne", Self::Ne),
            ("co", Self::Co),
            ("sw", Self::Sw),
            ("ew", Self::Ew),
            ("gt", Self::Gt),
            ("ge", Self::Ge),
            ("lt", Self::Lt),
            ("le", Self::Le),
        ];
        ops.into_iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, op)| op)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// A comparison value.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write!(f, "{}", Value::String(s.clone())),
            Self::Number(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}

/// A filter expression. `And` and `Or` hold two or more terms and are flat: a term of an
/// `And` is never an `And`, a term of an `Or` never an `Or`.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `attr op value`.
    Compare(AttrRef, CompareOp, Literal),
    /// `attr pr`.
    Present(AttrRef),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`, whose
    /// attribute names are sub-attributes of `attr`.
    ValuePath(AttrRef, Box<Expr>),
    /// `not (filter)`.
    Not(Box<Expr>),
    /// `a and b and …`.
    And(Vec<Expr>),
    /// `a or b or …`.
    Or(Vec<Expr>),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare(attr, op, value) => write!(f, "{attr} {} {value}", op.as_str()),
            Self::Present(attr) => write!(f, "{attr} pr"),
            Self::ValuePath(attr, inner) => write!(f, "{attr}[{inner}]"),
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::And(terms) => {
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    match term {
                        Self::Or(_) => write!(f, "({term})")?,
                        _ => write!(f, "{term}")?,
                    }
                }
                Ok(())
            }
            Self::Or(terms) => {
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{term}")?;
                }
                Ok(())
            }
        }
    }
}

/// The attributes [`Filter::equality`] recognises: those the caller can look up by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrKey {
    Id,
    ExternalId,
    UserName,
    EmailValue,
    DisplayName,
    MemberValue,
}

impl AttrKey {
    /// Whether the lookup must compare case-exactly (as [`Filter::matches`] does); the others
    /// compare case-insensitively.
    pub fn case_exact(self) -> bool {
        matches!(self, Self::Id | Self::ExternalId | Self::MemberValue)
    }
}

/// A parsed SCIM filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expr: Expr,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl Filter {
    /// Parses a filter; a syntax error is 400 `invalidFilter` saying what was expected where.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let mut parser = Parser::new(text, Grammar::Filter);
        parser.skip_ws();
        if parser.at_end() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let expr = parser.or_expr(false)?;
        parser.skip_ws();
        if !parser.at_end() {
            return Err(parser.unexpected());
        }
        Ok(Self { expr })
    }

    /// A filter of an expression parsed elsewhere (the brackets of a PATCH path).
    pub(crate) fn from_expr(expr: Expr) -> Self {
        Self { expr }
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Checks that every attribute is supported for `kind` (names case-insensitive, with an
    /// optional prefix of the kind's core schema URN) and that no ordering or substring
    /// operator is applied to a boolean; else 400 `invalidFilter`. A comparison on a
    /// multi-valued complex attribute without sub-attribute (`emails co "@acme"`) compares
    /// its `value`; one on a single-valued complex attribute (`name eq "x"`) is refused.
    pub fn check(&self, kind: ResourceKind) -> Result<(), ScimError> {
        check_expr(&self.expr, kind, None)
    }

    /// Whether `resource` (the JSON of a resource as [`crate::scim::render_user`] and
    /// [`crate::scim::render_group`] give it, or of one element inside a value path) matches.
    ///
    /// - Attribute names match case-insensitively; a core schema URN prefix must be listed in
    ///   the resource's `schemas`, any other URN names an extension object of the resource.
    /// - Strings compare case-insensitively, except `id`, `externalId`, `members.value` and
    ///   `groups.value`. `gt`, `ge`, `lt`, `le` compare two RFC 3339 date-times as instants,
    ///   other strings lexically; numbers numerically; they never match booleans. `co`, `sw`,
    ///   `ew` apply to strings only. A boolean attribute also equals the strings `"true"` and
    ///   `"false"` in any case.
    /// - A multi-valued attribute matches if any of its values does.
    /// - An unassigned attribute (missing, `null`, `""`, `[]`) matches `pr` never, `eq null`
    ///   always, `ne v` for every non-null `v` (RFC 7644 §3.4.2.2: "the attribute and operator
    ///   values are not identical"), and no other comparison.
    pub fn matches(&self, resource: &Value) -> bool {
        eval(&self.expr, resource, resource, None)
    }

    /// `Some((attribute, value))` when the whole filter is one `eq` comparison with a string
    /// on an indexed attribute: `id`, `externalId`, `userName`, `emails.value` (also
    /// `emails[value eq "…"]`), `displayName`, `members.value` (also `members[value eq "…"]`).
    /// Call it after [`Filter::check`]; compare as [`AttrKey::case_exact`] says, and the lookup
    /// agrees with [`Filter::matches`].
    pub fn equality(&self) -> Option<(AttrKey, &str)> {
        let (attr, value) = match &self.expr {
            Expr::Compare(attr, CompareOp::Eq, Literal::String(value)) => (attr, value),
            Expr::ValuePath(outer, inner) if outer.sub.is_none() => match inner.as_ref() {
                Expr::Compare(attr, CompareOp::Eq, Literal::String(value))
                    if attr.schema.is_none() && attr.sub.is_none() && attr.name.eq_ignore_ascii_case("value") =>
                {
                    let key = multi_key(outer)?;
                    return Some((key, value));
                }
                _ => return None,
            },
            _ => return None,
        };
        if !attr.schema.as_deref().is_none_or(is_core_urn) {
            return None;
        }
        let is = |name: &str| attr.name.eq_ignore_ascii_case(name);
        let key = match attr.sub.as_deref() {
            None if is("id") => AttrKey::Id,
            None if is("externalId") => AttrKey::ExternalId,
            None if is("userName") => AttrKey::UserName,
            None if is("displayName") => AttrKey::DisplayName,
            None => multi_key(attr)?,
            Some(sub) if sub.eq_ignore_ascii_case("value") => multi_key(&AttrRef {
                sub: None,
                ..attr.clone()
            })?,
            Some(_) => return None,
        };
        Some((key, value))
    }
}

fn is_core_urn(urn: &str) -> bool {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .any(|k| k.schema_urn().eq_ignore_ascii_case(urn))
}

/// `emails` → `EmailValue`, `members` → `MemberValue` (a core URN prefix allowed).
fn multi_key(attr: &AttrRef) -> Option<AttrKey> {
    if attr.sub.is_some() || !attr.schema.as_deref().is_none_or(is_core_urn) {
        return None;
    }
    if attr.name.eq_ignore_ascii_case("emails") {
        Some(AttrKey::EmailValue)
    } else if attr.name.eq_ignore_ascii_case("members") {
        Some(AttrKey::MemberValue)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Checking

fn unsupported(attr: &AttrRef) -> ScimError {
    ScimError::invalid_filter(format!("unsupported attribute '{attr}'"))
}

fn check_expr(expr: &Expr, kind: ResourceKind, scope: Option<&'static AttrDef>) -> Result<(), ScimError> {
    match expr {
        Expr::Compare(attr, op, _) => check_leaf(attr, Some(*op), kind, scope),
        Expr::Present(attr) => check_leaf(attr, None, kind, scope),
        Expr::ValuePath(attr, inner) => {
            let def = top_def(attr, kind)?;
            if !(def.multi && def.ty == AttrType::Complex) || attr.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "'{attr}' is not a multi-valued complex attribute and takes no [filter]"
                )));
            }
            check_expr(inner, kind, Some(def))
        }
        Expr::Not(inner) => check_expr(inner, kind, scope),
        Expr::And(terms) | Expr::Or(terms) => terms.iter().try_for_each(|t| check_expr(t, kind, scope)),
    }
}

fn top_def(attr: &AttrRef, kind: ResourceKind) -> Result<&'static AttrDef, ScimError> {
    if !attr
        .schema
        .as_deref()
        .is_none_or(|urn| urn.eq_ignore_ascii_case(kind.schema_urn()))
    {
        return Err(unsupported(attr));
    }
    discovery::attribute(kind, &attr.name)
        .filter(|d| d.filterable)
        .ok_or_else(|| unsupported(attr))
}

/// Checks one compared attribute; `op` is `None` for `pr`.
fn check_leaf(
    attr: &AttrRef,
    op: Option<CompareOp>,
    kind: ResourceKind,
    scope: Option<&'static AttrDef>,
) -> Result<(), ScimError> {
    let leaf = match scope {
        Some(parent) => {
            if attr.schema.is_some() || attr.sub.is_some() {
                return Err(unsupported(attr));
            }
            parent.sub_attr(&attr.name).filter(|d| d.filterable).ok_or_else(|| {
                ScimError::invalid_filter(format!("unsupported attribute '{}.{}'", parent.name, attr.name))
            })?
        }
        None => {
            let def = top_def(attr, kind)?;
            match &attr.sub {
                Some(sub) => def
                    .sub_attr(sub)
                    .filter(|d| d.filterable)
                    .ok_or_else(|| unsupported(attr))?,
                None if def.ty != AttrType::Complex || op.is_none() => def,
                None => match def.sub_attr("value") {
                    Some(value) if def.multi => value,
                    _ => {
                        return Err(ScimError::invalid_filter(format!(
                            "'{attr}' is a complex attribute: compare one of its sub-attributes, e.g. '{}.{}'",
                            def.name,
                            def.sub.first().map_or("value", |d| d.name)
                        )));
                    }
                },
            }
        }
    };
    match op {
        Some(op) if leaf.ty == AttrType::Boolean && op != CompareOp::Eq && op != CompareOp::Ne => Err(
            ScimError::invalid_filter(format!("'{attr}' is a boolean: only eq, ne and pr apply to it")),
        ),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// The member `name` of `object`, matched case-insensitively.
pub(crate) fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(name)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// Whether `resource` lists `urn` in its `schemas`.
fn lists_schema(resource: &Value, urn: &str) -> bool {
    get_ci(resource, "schemas").and_then(Value::as_array).is_some_and(|s| {
        s.iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    })
}

fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_unassigned),
        Value::Object(o) => o.values().all(is_unassigned),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn push_values<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => out.extend(items.iter().filter(|i| !is_unassigned(i))),
        _ if is_unassigned(v) => {}
        _ => out.push(v),
    }
}

/// The object `attr` is looked up in: `ctx`, or an extension object of it.
fn base<'v>(attr: &AttrRef, ctx: &'v Value, root: &'v Value, scope: Option<&str>) -> Option<&'v Value> {
    match (&attr.schema, scope) {
        (None, _) => Some(ctx),
        (Some(urn), None) => get_ci(ctx, urn).or_else(|| lists_schema(root, urn).then_some(ctx)),
        (Some(_), Some(_)) => None,
    }
}

/// The assigned values `attr` selects (arrays flattened).
fn resolve<'v>(attr: &AttrRef, ctx: &'v Value, root: &'v Value, scope: Option<&str>) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Some(v) = base(attr, ctx, root, scope).and_then(|b| get_ci(b, &attr.name)) else {
        return out;
    };
    match &attr.sub {
        None => push_values(v, &mut out),
        Some(sub) => {
            let elements: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for element in elements {
                if let Some(s) = get_ci(element, sub) {
                    push_values(s, &mut out);
                }
            }
        }
    }
    out
}

fn eval(expr: &Expr, ctx: &Value, root: &Value, scope: Option<&str>) -> bool {
    match expr {
        Expr::Present(attr) => !resolve(attr, ctx, root, scope).is_empty(),
        Expr::Compare(attr, op, literal) => {
            let values = resolve(attr, ctx, root, scope);
            let (name, sub) = match scope {
                Some(parent) => (parent, Some(attr.name.as_str())),
                None => (attr.name.as_str(), attr.sub.as_deref()),
            };
            let exact = |implicit: bool| discovery::case_exact(name, if implicit { Some("value") } else { sub });
            if values.is_empty() {
                return match (op, literal) {
                    (CompareOp::Eq, Literal::Null) => true,
                    (CompareOp::Ne, Literal::Null) => false,
                    (op, _) => *op == CompareOp::Ne,
                };
            }
            values.into_iter().any(|v| {
                // A complex value without a named sub-attribute compares by its `value`.
                let (v, implicit) = match v {
                    Value::Object(_) if sub.is_none() => match get_ci(v, "value") {
                        Some(inner) => (inner, true),
                        None => return *op == CompareOp::Ne && *literal != Literal::Null,
                    },
                    _ => (v, false),
                };
                compare(v, *op, literal, exact(implicit))
            })
        }
        Expr::ValuePath(attr, inner) => {
            let Some(v) = base(attr, ctx, root, scope).and_then(|b| get_ci(b, &attr.name)) else {
                return false;
            };
            let elements: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let name = attr.name.as_str();
            elements
                .into_iter()
                .any(|e| e.is_object() && eval(inner, e, root, Some(name)))
        }
        Expr::Not(inner) => !eval(inner, ctx, root, scope),
        Expr::And(terms) => terms.iter().all(|t| eval(t, ctx, root, scope)),
        Expr::Or(terms) => terms.iter().any(|t| eval(t, ctx, root, scope)),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Compares one assigned value with the literal.
fn compare(v: &Value, op: CompareOp, literal: &Literal, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordered = |ord: Option<Ordering>| match (op, ord) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Ne, None) => true,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    };
    match (v, literal) {
        (_, Literal::Null) => op == CompareOp::Ne,
        (Value::String(s), Literal::String(l)) => {
            if op.is_ordering()
                && let (Ok(a), Ok(b)) = (
                    chrono::DateTime::parse_from_rfc3339(s),
                    chrono::DateTime::parse_from_rfc3339(l),
                )
            {
                return ordered(Some(a.cmp(&b)));
            }
            let fold = |x: &str| if case_exact { x.to_owned() } else { x.to_lowercase() };
            let (s, l) = (fold(s), fold(l));
            match op {
                CompareOp::Co => s.contains(&l),
                CompareOp::Sw => s.starts_with(&l),
                CompareOp::Ew => s.ends_with(&l),
                _ => ordered(Some(s.cmp(&l))),
            }
        }
        (Value::Number(n), Literal::Number(l)) if !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
            let ord = n.as_f64().zip(l.as_f64()).and_then(|(a, b)| a.partial_cmp(&b));
            ordered(ord)
        }
        (Value::Bool(b), Literal::Bool(l)) if !op.is_ordering() => ordered(Some(b.cmp(l))),
        (Value::Bool(b), Literal::String(l)) if !op.is_ordering() => ordered(parse_bool(l).map(|l| b.cmp(&l))),
        _ => op == CompareOp::Ne,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Whether the parser reads a filter (errors are `invalidFilter`) or a PATCH path
/// (`invalidPath`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grammar {
    Filter,
    Path,
}

/// A cursor over filter (or path) text, reading tokens as it goes.
#[derive(Debug)]
pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    grammar: Grammar,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$')
}

fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, grammar: Grammar) -> Self {
        Self {
            src,
            pos: 0,
            depth: 0,
            grammar,
        }
    }

    fn error_at(&self, pos: usize, message: &str) -> ScimError {
        let at = self.src[..pos].chars().count() + 1;
        match self.grammar {
            Grammar::Filter => ScimError::invalid_filter(format!("{message} at position {at} of the filter")),
            Grammar::Path => {
                ScimError::invalid_path(format!("invalid path '{}': {message} at position {at}", self.src))
            }
        }
    }

    fn error(&self, message: &str) -> ScimError {
        self.error_at(self.pos, message)
    }

    /// "unexpected …" naming the next token.
    pub(crate) fn unexpected(&self) -> ScimError {
        let rest = &self.src[self.pos..];
        let word: String = rest.chars().take_while(|c| is_word_char(*c)).collect();
        let token = match (word.is_empty(), rest.chars().next()) {
            (_, None) => return self.error("unexpected end"),
            (false, _) => word,
            (true, Some(c)) => c.to_string(),
        };
        self.error(&format!("unexpected '{token}'"))
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    /// The next word (maximal run of name, URN and `.` characters), not consumed.
    fn peek_word(&self) -> &'a str {
        let rest = &self.src[self.pos..];
        let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Consumes the next word if it is `keyword` (case-insensitive).
    fn keyword(&mut self, keyword: &str) -> bool {
        let word = self.peek_word();
        if word.eq_ignore_ascii_case(keyword) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// `term *("or" term)`; `in_brackets` inside a value path.
    pub(crate) fn or_expr(&mut self, in_brackets: bool) -> Result<Expr, ScimError> {
        let mut terms = vec![self.and_expr(in_brackets)?];
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("or") {
                terms.push(self.and_expr(in_brackets)?);
            } else {
                self.pos = save;
                break;
            }
        }
        Ok(flatten(terms, false))
    }

    fn and_expr(&mut self, in_brackets: bool) -> Result<Expr, ScimError> {
        let mut terms = vec![self.factor(in_brackets)?];
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("and") {
                terms.push(self.factor(in_brackets)?);
            } else {
                self.pos = save;
                break;
            }
        }
        Ok(flatten(terms, true))
    }

    fn group(&mut self, in_brackets: bool) -> Result<Expr, ScimError> {
        self.enter()?;
        let inner = self.or_expr(in_brackets)?;
        self.skip_ws();
        if !self.eat(')') {
            return Err(match self.at_end() {
                true => self.error("missing ')'"),
                false => self.unexpected(),
            });
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn factor(&mut self, in_brackets: bool) -> Result<Expr, ScimError> {
        self.skip_ws();
        if self.eat('(') {
            return self.group(in_brackets);
        }
        let start = self.pos;
        let word = self.peek_word();
        if word.is_empty() {
            return Err(match self.at_end() {
                true => self.error("unexpected end: expected an attribute, 'not' or '('"),
                false => self.unexpected(),
            });
        }
        if word.eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += word.len();
            self.skip_ws();
            if self.eat('(') {
                return Ok(Expr::Not(Box::new(self.group(in_brackets)?)));
            }
            self.pos = save;
        }
        let attr = self.attr()?;
        if self.peek() == Some('[') {
            if in_brackets {
                return Err(self.error("value paths cannot be nested"));
            }
            if attr.sub.is_some() {
                return Err(self.error_at(start, &format!("'{attr}' is a sub-attribute and takes no [filter]")));
            }
            self.pos += 1;
            let inner = self.bracket_filter()?;
            if self.peek() == Some('.') {
                return Err(self.error("a sub-attribute after ']' is allowed in PATCH paths only"));
            }
            return Ok(Expr::ValuePath(attr, Box::new(inner)));
        }
        self.skip_ws();
        let op_start = self.pos;
        let op = self.peek_word();
        if op.is_empty() {
            return Err(match self.at_end() {
                true => self.error(&format!("unexpected end: expected an operator after '{attr}'")),
                false => self.unexpected(),
            });
        }
        self.pos += op.len();
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Expr::Present(attr));
        }
        let Some(op) = CompareOp::parse(op) else {
            return Err(self.error_at(
                op_start,
                &format!("unknown operator '{op}' (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)"),
            ));
        };
        self.skip_ws();
        let value = self.literal()?;
        Ok(Expr::Compare(attr, op, value))
    }

    /// The filter of a value path after its `[`, and the closing `]`.
    pub(crate) fn bracket_filter(&mut self) -> Result<Expr, ScimError> {
        self.enter()?;
        let inner = self.or_expr(true)?;
        self.skip_ws();
        if !self.eat(']') {
            return Err(match self.at_end() {
                true => self.error("missing ']'"),
                false => self.unexpected(),
            });
        }
        self.depth -= 1;
        Ok(inner)
    }

    /// An attribute path `[urn:]name[.sub]`.
    pub(crate) fn attr(&mut self) -> Result<AttrRef, ScimError> {
        let start = self.pos;
        let word = self.peek_word();
        if word.is_empty() {
            return Err(match self.at_end() {
                true => self.error("unexpected end: expected an attribute"),
                false => self.unexpected(),
            });
        }
        self.pos += word.len();
        let (schema, path) = match word.rfind(':') {
            Some(i) => (Some(&word[..i]), &word[i + 1..]),
            None => (None, word),
        };
        if path.is_empty() {
            return Err(self.error_at(
                start,
                &format!("expected an attribute name after the schema in '{word}'"),
            ));
        }
        let mut parts = path.split('.');
        let name = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(self.error_at(start, &format!("'{word}' has more than one '.'")));
        }
        if !is_attr_name(name) || !sub.is_none_or(is_attr_name) {
            return Err(self.error_at(start, &format!("'{path}' is not an attribute name")));
        }
        Ok(AttrRef {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// An attribute name after a `.` (PATCH paths: `emails[…].value`).
    pub(crate) fn sub_attr_name(&mut self) -> Result<String, ScimError> {
        let word = self.peek_word();
        if !is_attr_name(word) {
            return Err(match word.is_empty() {
                true => self.error("expected a sub-attribute name"),
                false => self.error(&format!("'{word}' is not a sub-attribute name")),
            });
        }
        self.pos += word.len();
        Ok(word.to_owned())
    }

    fn literal(&mut self) -> Result<Literal, ScimError> {
        let start = self.pos;
        match self.peek() {
            Some('"') => {
                let mut escaped = false;
                let mut end = None;
                for (i, c) in self.src[start + 1..].char_indices() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(start + 1 + i);
                            break;
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return Err(self.error("unterminated string"));
                };
                let text = &self.src[start..=end];
                let value: String =
                    serde_json::from_str(text).map_err(|e| self.error(&format!("invalid string {text}: {e}")))?;
                self.pos = end + 1;
                Ok(Literal::String(value))
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let rest = &self.src[start..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
                    .unwrap_or(rest.len());
                let text = &rest[..end];
                let number: Number = text
                    .parse()
                    .map_err(|_| self.error(&format!("invalid number '{text}'")))?;
                self.pos += end;
                Ok(Literal::Number(number))
            }
            _ => {
                for (word, literal) in [
                    ("true", Literal::Bool(true)),
                    ("false", Literal::Bool(false)),
                    ("null", Literal::Null),
                ] {
                    if self.keyword(word) {
                        return Ok(literal);
                    }
                }
                Err(self.error("expected a value: a string in double quotes, a number, true, false or null"))
            }
        }
    }
}

/// One term as is, or an `And`/`Or` of the terms with nested ones of the same kind spliced in.
fn flatten(terms: Vec<Expr>, and: bool) -> Expr {
    if terms.len() == 1 {
        return terms.into_iter().next().unwrap_or(Expr::And(Vec::new()));
    }
    let mut flat = Vec::with_capacity(terms.len());
    for term in terms {
        match term {
            Expr::And(inner) if and => flat.extend(inner),
            Expr::Or(inner) if !and => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if and { Expr::And(flat) } else { Expr::Or(flat) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;

    fn attr(name: &str) -> AttrRef {
        let (name, sub) = match name.split_once('.') {
            Some((n, s)) => (n, Some(s.to_owned())),
            None => (name, None),
        };
        AttrRef {
            schema: None,
            name: name.to_owned(),
            sub,
        }
    }

    fn eq(name: &str, value: &str) -> Expr {
        Expr::Compare(attr(name), CompareOp::Eq, Literal::String(value.to_owned()))
    }

    fn parse(text: &str) -> Expr {
        Filter::parse(text).unwrap_or_else(|e| unreachable!("{text}: {e}")).expr
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "0193a1b2-aaaa-7000-8000-000000000001",
            "externalId": "Ext-42",
            "userName": "Alice@Acme.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "displayName": "Alice L.",
            "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
            "active": true,
            "groups": [{"value": "Org-1", "display": "Acme", "$ref": "https://x/Groups/Org-1"}],
            "meta": {
                "resourceType": "User",
                "created": "2025-03-01T12:00:00.000Z",
                "lastModified": "2025-03-02T08:30:00.000Z",
                "version": "W/\"3\"",
            },
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g-1",
            "displayName": "Engineers",
            "members": [
                {"value": "u-1", "display": "Alice", "type": "User"},
                {"value": "U-2", "display": "Bob", "type": "User"},
            ],
        })
    }

    #[test]
    fn the_parser_builds_the_expected_tree() {
        let cases: Vec<(&str, Expr)> = vec![
            (r#"userName eq "x""#, eq("userName", "x")),
            (r#"  userName   EQ "x"  "#, eq("userName", "x")),
            (
                r#"name.givenName Sw "Al""#,
                Expr::Compare(attr("name.givenName"), CompareOp::Sw, Literal::String("Al".into())),
            ),
            ("title pr", Expr::Present(attr("title"))),
            ("title PR", Expr::Present(attr("title"))),
            (
                r#"a eq "1" and b eq "2" or c eq "3""#,
                Expr::Or(vec![Expr::And(vec![eq("a", "1"), eq("b", "2")]), eq("c", "3")]),
            ),
            (
                r#"a eq "1" or b eq "2" and c eq "3""#,
                Expr::Or(vec![eq("a", "1"), Expr::And(vec![eq("b", "2"), eq("c", "3")])]),
            ),
            (
                r#"a eq "1" AND (b eq "2" OR c eq "3")"#,
                Expr::And(vec![eq("a", "1"), Expr::Or(vec![eq("b", "2"), eq("c", "3")])]),
            ),
            (
                r#"(a eq "1" and b eq "2") and c eq "3""#,
                Expr::And(vec![eq("a", "1"), eq("b", "2"), eq("c", "3")]),
            ),
            (r#"not (a eq "1")"#, Expr::Not(Box::new(eq("a", "1")))),
            (r#"NOT(a eq "1")"#, Expr::Not(Box::new(eq("a", "1")))),
            (
                r#"emails[type eq "work" and value co "@acme.com"]"#,
                Expr::ValuePath(
                    attr("emails"),
                    Box::new(Expr::And(vec![
                        eq("type", "work"),
                        Expr::Compare(attr("value"), CompareOp::Co, Literal::String("@acme.com".into())),
                    ])),
                ),
            ),
            (
                r#"emails[not (type eq "home")]"#,
                Expr::ValuePath(attr("emails"), Box::new(Expr::Not(Box::new(eq("type", "home"))))),
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
                Expr::Compare(
                    AttrRef {
                        schema: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                        name: "userName".into(),
                        sub: None,
                    },
                    CompareOp::Eq,
                    Literal::String("x".into()),
                ),
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "x""#,
                Expr::Compare(
                    AttrRef {
                        schema: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                        name: "name".into(),
                        sub: Some("familyName".into()),
                    },
                    CompareOp::Eq,
                    Literal::String("x".into()),
                ),
            ),
            (r#"userName eq "a\"b\\c\u00e9""#, eq("userName", "a\"b\\cé")),
            (r#"userName eq """#, eq("userName", "")),
            (r#"userName eq "a and b or c""#, eq("userName", "a and b or c")),
            (
                "active eq true",
                Expr::Compare(attr("active"), CompareOp::Eq, Literal::Bool(true)),
            ),
            (
                "active eq False",
                Expr::Compare(attr("active"), CompareOp::Eq, Literal::Bool(false)),
            ),
            ("x eq null", Expr::Compare(attr("x"), CompareOp::Eq, Literal::Null)),
            (
                "x gt -1.5e3",
                Expr::Compare(attr("x"), CompareOp::Gt, Literal::Number("-1.5e3".parse().unwrap())),
            ),
            (
                "x le 10",
                Expr::Compare(attr("x"), CompareOp::Le, Literal::Number(10.into())),
            ),
            (r#"notes eq "x""#, eq("notes", "x")),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    fn syntax_errors_are_invalid_filter_with_a_helpful_detail() {
        let cases = [
            ("", "the filter is empty"),
            ("   ", "the filter is empty"),
            (
                "userName",
                "unexpected end: expected an operator after 'userName' at position 9",
            ),
            ("userName eq", "expected a value"),
            (r#"userName xx "x""#, "unknown operator 'xx'"),
            (r#"userName eq "x"#, "unterminated string"),
            (r#"userName eq "\q""#, "invalid string"),
            (r#"userName eq x"#, "expected a value"),
            ("userName eq 1.2.3", "invalid number '1.2.3'"),
            (r#"(userName eq "x""#, "missing ')'"),
            (r#"userName eq "x")"#, "unexpected ')' at position 16"),
            (r#"userName eq "x" userName eq "y""#, "unexpected 'userName'"),
            (r#"userName eq "x" and"#, "unexpected end: expected an attribute"),
            (r#"emails[type eq "work""#, "missing ']'"),
            (r#"emails[x[y eq "1"]]"#, "value paths cannot be nested"),
            (r#"emails[type eq "work"].value eq "x""#, "PATCH paths only"),
            (r#"name.givenName[x eq "1"]"#, "takes no [filter]"),
            (r#"a.b.c eq "1""#, "more than one '.'"),
            (r#"1abc eq "1""#, "not an attribute name"),
            (r#"urn:x: eq "1""#, "expected an attribute name after the schema"),
            (r#"not userName eq "x""#, "unknown operator 'userName'"),
            (r#"userName = "x""#, "unexpected '='"),
        ];
        for (text, detail) in cases {
            let error = Filter::parse(text).unwrap_err();
            assert_eq!(error.status, 400, "{text}");
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}");
            assert!(error.detail.contains(detail), "{text}: {}", error.detail);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing_the_stack() {
        let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        let error = Filter::parse(&deep).unwrap_err();
        assert!(error.detail.contains("nested deeper than 32"), "{}", error.detail);
        let fine = format!("{}a pr{}", "(".repeat(32), ")".repeat(32));
        assert!(Filter::parse(&fine).is_ok());
    }

    #[test]
    fn long_chains_stay_flat() {
        let text = vec![r#"userName eq "x""#; 5000].join(" or ");
        let filter = Filter::parse(&text).unwrap();
        assert!(matches!(filter.expr(), Expr::Or(terms) if terms.len() == 5000));
        assert!(!filter.matches(&user()));
    }

    #[test]
    fn display_gives_text_that_parses_back_to_the_same_filter() {
        let cases = [
            r#"userName eq "x""#,
            r#"a eq "1" and (b eq "2" or c eq "3") and not (d pr)"#,
            r#"emails[type eq "work" and value co "a\"b"] or x ge -2.5"#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "A" and active eq false and x eq null"#,
        ];
        for text in cases {
            let filter = Filter::parse(text).unwrap();
            let again = Filter::parse(&filter.to_string()).unwrap();
            assert_eq!(filter, again, "{text} → {filter}");
        }
    }

    #[test]
    fn check_accepts_the_supported_attributes_of_each_kind() {
        let users = [
            r#"userName eq "x""#,
            r#"USERNAME eq "x""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenName eq "x""#,
            r#"externalId eq "x""#,
            r#"id eq "x""#,
            r#"name.formatted co "x" or name.familyName sw "x" or name.givenName ew "x""#,
            r#"displayName pr"#,
            r#"emails.value eq "x" and emails.type eq "work" and emails.primary eq true"#,
            r#"emails[type eq "work" and value co "@acme.com"]"#,
            r#"emails co "@acme.com""#,
            r#"emails pr"#,
            r#"name pr"#,
            r#"active eq true and active ne false"#,
            r#"groups.value eq "x" or groups.display eq "x" or groups[value eq "x"]"#,
            r#"meta.created gt "2025-01-01T00:00:00Z" and meta.lastModified le "2026-01-01T00:00:00Z""#,
            r#"meta.resourceType eq "User" and meta.version eq "W/\"1\"""#,
        ];
        for text in users {
            let filter = Filter::parse(text).unwrap();
            assert_eq!(filter.check(ResourceKind::User), Ok(()), "{text}");
        }
        let groups = [
            r#"displayName eq "x""#,
            r#"id eq "x" or externalId eq "y""#,
            r#"members.value eq "x""#,
            r#"members[value eq "x"]"#,
            r#"members.display co "x""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
            r#"meta.created pr"#,
        ];
        for text in groups {
            let filter = Filter::parse(text).unwrap();
            assert_eq!(filter.check(ResourceKind::Group), Ok(()), "{text}");
        }
    }

    #[test]
    fn check_refuses_unsupported_attributes_and_operators() {
        let cases = [
            (ResourceKind::User, r#"title eq "x""#, "unsupported attribute 'title'"),
            (
                ResourceKind::User,
                r#"name.middleName eq "x""#,
                "unsupported attribute 'name.middleName'",
            ),
            (
                ResourceKind::User,
                r#"emails.display eq "x""#,
                "unsupported attribute 'emails.display'",
            ),
            (
                ResourceKind::User,
                r#"emails[display eq "x"]"#,
                "unsupported attribute 'emails.display'",
            ),
            (
                ResourceKind::User,
                r#"emails[emails.value eq "x"]"#,
                "unsupported attribute 'emails.value'",
            ),
            (
                ResourceKind::User,
                r#"members.value eq "x""#,
                "unsupported attribute 'members.value'",
            ),
            (
                ResourceKind::User,
                r#"meta.location eq "x""#,
                "unsupported attribute 'meta.location'",
            ),
            (
                ResourceKind::User,
                r#"groups.$ref eq "x""#,
                "unsupported attribute 'groups.$ref'",
            ),
            (
                ResourceKind::User,
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
                "unsupported attribute 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department'",
            ),
            (
                ResourceKind::User,
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
                "unsupported attribute",
            ),
            (
                ResourceKind::Group,
                r#"userName eq "x""#,
                "unsupported attribute 'userName'",
            ),
            (
                ResourceKind::Group,
                r#"members.type eq "User""#,
                "unsupported attribute 'members.type'",
            ),
            (ResourceKind::User, r#"name eq "x""#, "'name' is a complex attribute"),
            (ResourceKind::User, r#"userName[value eq "x"]"#, "takes no [filter]"),
            (ResourceKind::User, r#"active gt true"#, "'active' is a boolean"),
            (ResourceKind::User, r#"emails[primary co "t"]"#, "is a boolean"),
            (
                ResourceKind::User,
                r#"userName eq "x" or not (nickName pr)"#,
                "unsupported attribute 'nickName'",
            ),
        ];
        for (kind, text, detail) in cases {
            let error = Filter::parse(text).unwrap().check(kind).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}");
            assert!(error.detail.contains(detail), "{text}: {}", error.detail);
        }
    }

    #[test]
    fn matching_follows_the_rfc_rules() {
        let cases = [
            // Okta and Entra lookups.
            (r#"userName eq "alice@acme.com""#, true),
            (r#"userName eq "bob@acme.com""#, false),
            (r#"UserName EQ "ALICE@ACME.COM""#, true),
            (r#"externalId eq "Ext-42""#, true),
            (r#"externalId eq "ext-42""#, false),
            (r#"id eq "0193A1B2-AAAA-7000-8000-000000000001""#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice@acme.com""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "alice@acme.com""#,
                false,
            ),
            // Operators on strings.
            (r#"userName ne "alice@acme.com""#, false),
            (r#"userName co "ACME""#, true),
            (r#"userName sw "alice@""#, true),
            (r#"userName ew ".COM""#, true),
            (r#"userName ew "@acme""#, false),
            (r#"name.givenName gt "Aardvark""#, true),
            (r#"name.givenName lt "Aardvark""#, false),
            (r#"name.givenName ge "alice""#, true),
            (r#"name.givenName le "ALICE""#, true),
            // Date-times compare as instants.
            (r#"meta.created gt "2025-03-01T11:59:59Z""#, true),
            (r#"meta.created gt "2025-03-01T13:00:00+01:00""#, false),
            (r#"meta.created ge "2025-03-01T13:00:00+01:00""#, true),
            (r#"meta.lastModified lt "2025-03-02T09:00:00.5+00:00""#, true),
            // Multi-valued attributes: any element.
            (r#"emails.value eq "alice@acme.com""#, true),
            (r#"emails co "@acme.com""#, true),
            (r#"emails[type eq "work" and value co "@acme.com"]"#, true),
            (r#"emails[type eq "home" and value co "@acme.com"]"#, false),
            (r#"emails[type eq "work"] and emails[primary eq true]"#, true),
            (r#"groups.value eq "org-1""#, false),
            (r#"groups[value eq "Org-1"]"#, true),
            // Booleans, also against the strings identity providers send.
            ("active eq true", true),
            ("active eq false", false),
            ("active ne false", true),
            (r#"active eq "True""#, true),
            (r#"emails.primary eq true"#, true),
            // Presence.
            ("displayName pr", true),
            ("name pr", true),
            ("title pr", false),
            ("name.formatted pr", false),
            // Missing attributes.
            (r#"title eq "x""#, false),
            (r#"title ne "x""#, true),
            (r#"title co "x""#, false),
            ("title eq null", true),
            ("title ne null", false),
            ("userName eq null", false),
            ("userName ne null", true),
            // Type mismatches never match (ne always does).
            ("userName eq 5", false),
            ("userName ne 5", true),
            (r#"active gt "a""#, false),
            // Logic.
            (r#"userName eq "x" or displayName co "alice""#, true),
            (r#"userName eq "x" and displayName co "alice""#, false),
            (r#"not (userName eq "x")"#, true),
            (
                r#"not (userName eq "x") and (active eq false or name.familyName sw "lid")"#,
                true,
            ),
        ];
        let resource = user();
        for (text, expected) in cases {
            assert_eq!(Filter::parse(text).unwrap().matches(&resource), expected, "{text}");
        }
    }

    #[test]
    fn matching_a_group_compares_member_values_case_exactly() {
        let cases = [
            (r#"members.value eq "u-1""#, true),
            (r#"members.value eq "U-1""#, false),
            (r#"members[value eq "U-2"]"#, true),
            (r#"members[value eq "u-2"]"#, false),
            (r#"members eq "u-1""#, true),
            (r#"members.display eq "BOB""#, true),
            (r#"displayName eq "engineers""#, true),
            (r#"members.value eq "u-3""#, false),
        ];
        let resource = group();
        for (text, expected) in cases {
            assert_eq!(Filter::parse(text).unwrap().matches(&resource), expected, "{text}");
        }
    }

    #[test]
    fn numbers_compare_numerically() {
        let resource = json!({"schemas": [], "count": 10, "ratio": 0.5});
        let cases = [
            ("count eq 10", true),
            ("count eq 10.0", true),
            ("count gt 9", true),
            ("count lt 9", false),
            ("ratio le 0.5", true),
            ("count co 1", false),
            (r#"count eq "10""#, false),
        ];
        for (text, expected) in cases {
            assert_eq!(Filter::parse(text).unwrap().matches(&resource), expected, "{text}");
        }
    }

    #[test]
    fn an_extension_urn_names_an_extension_object() {
        let resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        });
        let filter =
            Filter::parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#).unwrap();
        assert!(filter.matches(&resource));
        assert!(!Filter::parse(r#"department eq "r&d""#).unwrap().matches(&resource));
    }

    #[test]
    fn equality_recognises_the_indexed_lookups() {
        let cases = [
            (r#"userName eq "x""#, Some((AttrKey::UserName, "x"))),
            (r#"USERNAME EQ "X""#, Some((AttrKey::UserName, "X"))),
            (r#"(userName eq "x")"#, Some((AttrKey::UserName, "x"))),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
                Some((AttrKey::UserName, "x")),
            ),
            (r#"externalId eq "e-1""#, Some((AttrKey::ExternalId, "e-1"))),
            (r#"id eq "i""#, Some((AttrKey::Id, "i"))),
            (r#"emails.value eq "a@b""#, Some((AttrKey::EmailValue, "a@b"))),
            (r#"emails eq "a@b""#, Some((AttrKey::EmailValue, "a@b"))),
            (r#"emails[value eq "a@b"]"#, Some((AttrKey::EmailValue, "a@b"))),
            (r#"displayName eq "Eng""#, Some((AttrKey::DisplayName, "Eng"))),
            (r#"members.value eq "u""#, Some((AttrKey::MemberValue, "u"))),
            (r#"members[value eq "u"]"#, Some((AttrKey::MemberValue, "u"))),
            (r#"userName ne "x""#, None),
            (r#"userName eq 1"#, None),
            (r#"userName co "x""#, None),
            (r#"userName eq "x" and active eq true"#, None),
            (r#"not (userName eq "x")"#, None),
            (r#"emails[type eq "work"]"#, None),
            (r#"emails[value eq "a" and type eq "work"]"#, None),
            (r#"emails.type eq "work""#, None),
            (r#"name.givenName eq "x""#, None),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#,
                None,
            ),
        ];
        for (text, expected) in cases {
            let filter = Filter::parse(text).unwrap();
            assert_eq!(filter.equality(), expected, "{text}");
        }
    }

    fn arb_literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            any::<String>().prop_map(Literal::String),
            any::<i64>().prop_map(|n| Literal::Number(n.into())),
            (-1000i32..1000).prop_map(|n| Literal::Number(Number::from_f64(f64::from(n) / 8.0).unwrap())),
            any::<bool>().prop_map(Literal::Bool),
            Just(Literal::Null),
        ]
    }

    fn arb_op() -> impl Strategy<Value = CompareOp> {
        proptest::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    fn arb_attr(names: &'static [&'static str]) -> impl Strategy<Value = AttrRef> {
        proptest::sample::select(names).prop_map(|text| {
            let mut parser = Parser::new(text, Grammar::Filter);
            parser.attr().unwrap()
        })
    }

    /// Filters as the parser builds them (flat `And`/`Or`, no nested value paths).
    fn arb_expr(names: &'static [&'static str], value_paths: bool) -> BoxedStrategy<Expr> {
        let leaf = prop_oneof![
            (arb_attr(names), arb_op(), arb_literal()).prop_map(|(a, o, l)| Expr::Compare(a, o, l)),
            arb_attr(names).prop_map(Expr::Present),
        ];
        leaf.prop_recursive(4, 24, 4, move |inner| {
            let mut options = vec![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))).boxed(),
                proptest::collection::vec(inner.clone(), 2..4)
                    .prop_map(|t| flatten(t, true))
                    .boxed(),
                proptest::collection::vec(inner, 2..4)
                    .prop_map(|t| flatten(t, false))
                    .boxed(),
            ];
            if value_paths {
                let element = arb_expr(&["value", "type", "primary"], false);
                options.push(
                    (arb_attr(&["emails", "members"]), element)
                        .prop_map(|(a, e)| Expr::ValuePath(a, Box::new(e)))
                        .boxed(),
                );
            }
            proptest::strategy::Union::new(options)
        })
        .boxed()
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = Filter::parse(&text);
            let _ = crate::scim::AttrPath::parse(&text);
        }

        #[test]
        fn parsing_filter_like_text_never_panics(text in r#"[a-zA-Z.:$\[\]()" \\0-9-]{0,80}"#) {
            if let Ok(filter) = Filter::parse(&text) {
                let _ = filter.check(ResourceKind::User);
                let _ = filter.matches(&user());
                let _ = filter.equality();
            }
            let _ = crate::scim::AttrPath::parse(&text);
        }

        #[test]
        fn display_parses_back_to_the_same_filter(
            expr in arb_expr(&["userName", "name.givenName", "urn:ietf:params:scim:schemas:core:2.0:User:emails.value", "not", "pr"], true)
        ) {
            let filter = Filter::from_expr(expr);
            let text = filter.to_string();
            prop_assert_eq!(Filter::parse(&text), Ok(filter), "{}", text);
        }
    }

    #[test]
    fn equality_agrees_with_matches() {
        let resources = [user(), group()];
        let cases = [
            r#"userName eq "ALICE@acme.com""#,
            r#"externalId eq "Ext-42""#,
            r#"externalId eq "ext-42""#,
            r#"emails[value eq "Alice@ACME.com"]"#,
            r#"displayName eq "engineers""#,
            r#"members.value eq "U-2""#,
            r#"members.value eq "u-2""#,
            r#"id eq "g-1""#,
        ];
        for text in cases {
            let filter = Filter::parse(text).unwrap();
            let (key, value) = filter.equality().unwrap();
            for resource in &resources {
                let candidates: Vec<&Value> = match key {
                    AttrKey::Id => vec![&resource["id"]],
                    AttrKey::ExternalId => vec![&resource["externalId"]],
                    AttrKey::UserName => vec![&resource["userName"]],
                    AttrKey::DisplayName => vec![&resource["displayName"]],
                    AttrKey::EmailValue => resource["emails"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| &e["value"])
                        .collect(),
                    AttrKey::MemberValue => resource["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| &e["value"])
                        .collect(),
                };
                let lookup = candidates
                    .into_iter()
                    .filter_map(Value::as_str)
                    .any(|c| match key.case_exact() {
                        true => c == value,
                        false => c.to_lowercase() == value.to_lowercase(),
                    });
                assert_eq!(lookup, filter.matches(resource), "{text} on {}", resource["id"]);
            }
        }
    }
}
