//! PATCH paths (RFC 7644 §3.5.2, the `PATH` rule of figure 1): `attr`, `attr.sub`,
//! `attr[filter]` and `attr[filter].sub`, optionally prefixed by a schema URN.

use std::fmt;

use super::error::ScimError;
use super::filter::{Filter, Grammar, Parser, ResourceKind};

/// The schema a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSchema {
    /// No URN prefix: the resource's core schema.
    Implicit,
    /// The core User or Group schema URN.
    Core(ResourceKind),
    /// Any other URN (the enterprise User extension, a custom one): the caller ignores it.
    Extension(String),
}

/// A parsed PATCH path. Names keep their case; compare them case-insensitively.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrPath {
    /// The schema.
    pub schema: PathSchema,
    /// The attribute (empty for an extension path that does not parse as an attribute path).
    pub attr: String,
    /// The value filter in brackets, whose attribute names are sub-attributes of `attr`.
    pub filter: Option<Filter>,
    /// The sub-attribute (`name.givenName`, `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses a path; one that does not parse is 400 `invalidPath`. A path with a URN other
    /// than a core schema's is [`PathSchema::Extension`] even where the rest would not parse,
    /// since the caller ignores extensions anyway.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScimError::invalid_path("the path is empty"));
        }
        match parse_path(text) {
            Ok(path) => Ok(path),
            Err(_) if is_extension_text(text) => Ok(Self {
                schema: PathSchema::Extension(text.to_owned()),
                attr: String::new(),
                filter: None,
                sub: None,
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the path names an extension schema.
    pub fn is_extension(&self) -> bool {
        matches!(self.schema, PathSchema::Extension(_))
    }

    /// Whether the path is in the core schema of `kind` (with or without URN).
    pub fn is_core(&self, kind: ResourceKind) -> bool {
        match self.schema {
            PathSchema::Implicit => true,
            PathSchema::Core(k) => k == kind,
            PathSchema::Extension(_) => false,
        }
    }

    /// Whether the attribute is `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.attr.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            PathSchema::Implicit => {}
            PathSchema::Core(kind) => write!(f, "{}:", kind.schema_urn())?,
            PathSchema::Extension(urn) if self.attr.is_empty() => return f.write_str(urn),
            PathSchema::Extension(urn) => write!(f, "{urn}:")?,
        }
        f.write_str(&self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

fn is_extension_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("urn:")
        && ![ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .any(|k| lower.starts_with(&format!("{}:", k.schema_urn().to_ascii_lowercase())))
}

fn parse_path(text: &str) -> Result<AttrPath, ScimError> {
    let mut parser = Parser::new(text, Grammar::Path);
    let attr = parser.attr()?;
    let mut sub = attr.sub;
    let mut filter = None;
    if parser.eat('[') {
        if sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path '{text}': a [filter] applies to an attribute, not to a sub-attribute"
            )));
        }
        filter = Some(Filter::from_expr(parser.bracket_filter()?));
        if parser.eat('.') {
            sub = Some(parser.sub_attr_name()?);
        }
    }
    if !parser.at_end() {
        return Err(parser.unexpected());
    }
    let schema = match attr.schema {
        None => PathSchema::Implicit,
        Some(urn) => [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .find(|k| k.schema_urn().eq_ignore_ascii_case(&urn))
            .map_or(PathSchema::Extension(urn), PathSchema::Core),
    };
    Ok(AttrPath {
        schema,
        attr: attr.name,
        filter,
        sub,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scim::ScimType;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// A path, and the schema, attribute, filter and sub-attribute it parses into.
    type PathCase = (
        &'static str,
        PathSchema,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn paths_parse_into_schema_attribute_filter_and_sub_attribute() {
        let cases: [PathCase; 11] = [
            ("active", PathSchema::Implicit, "active", None, None),
            ("  userName ", PathSchema::Implicit, "userName", None, None),
            ("name.givenName", PathSchema::Implicit, "name", None, Some("givenName")),
            ("emails", PathSchema::Implicit, "emails", None, None),
            (
                r#"emails[type eq "work"]"#,
                PathSchema::Implicit,
                "emails",
                Some(r#"type eq "work""#),
                None,
            ),
            (
                r#"emails[type eq "work" and primary eq true].value"#,
                PathSchema::Implicit,
                "emails",
                Some(r#"type eq "work" and primary eq true"#),
                Some("value"),
            ),
            (
                r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
                PathSchema::Implicit,
                "members",
                Some(r#"value eq "2819c223-7f76-453a-919d-413861904646""#),
                None,
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
                PathSchema::Core(ResourceKind::User),
                "name",
                None,
                Some("familyName"),
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value"#,
                PathSchema::Core(ResourceKind::User),
                "emails",
                Some(r#"type eq "work""#),
                Some("value"),
            ),
            (
                "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP:displayName",
                PathSchema::Core(ResourceKind::Group),
                "displayName",
                None,
                None,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                PathSchema::Extension(ENTERPRISE.into()),
                "department",
                None,
                None,
            ),
        ];
        for (text, schema, attr, filter, sub) in cases {
            let path = AttrPath::parse(text).unwrap_or_else(|e| unreachable!("{text}: {e}"));
            assert_eq!(path.schema, schema, "{text}");
            assert_eq!(path.attr, attr, "{text}");
            assert_eq!(path.filter.as_ref().map(Filter::to_string).as_deref(), filter, "{text}");
            assert_eq!(path.sub.as_deref(), sub, "{text}");
        }
    }

    #[test]
    fn an_extension_path_is_an_extension_even_when_its_rest_does_not_parse() {
        let cases = [
            format!("{ENTERPRISE}:manager"),
            format!("{ENTERPRISE}:manager.value"),
            format!("{ENTERPRISE}:employee number"),
            ENTERPRISE.to_owned(),
            "urn:example:custom:1.0:User:x[".to_owned(),
        ];
        for text in cases {
            let path = AttrPath::parse(&text).unwrap_or_else(|e| unreachable!("{text}: {e}"));
            assert!(path.is_extension(), "{text}");
            assert!(!path.is_core(ResourceKind::User), "{text}");
        }
    }

    #[test]
    fn unparsable_paths_are_invalid_path() {
        let cases = [
            ("", "the path is empty"),
            ("emails[", "unexpected end: expected an attribute"),
            (r#"emails[type eq "work""#, "missing ']'"),
            (r#"emails[type xx "work"]"#, "unknown operator 'xx'"),
            (r#"emails[type eq "work"]value"#, "unexpected 'value'"),
            (r#"emails[type eq "work"]."#, "expected a sub-attribute name"),
            (r#"name.givenName[type eq "x"]"#, "not to a sub-attribute"),
            ("a.b.c", "more than one '.'"),
            ("user name", "unexpected ' ' at position 5"),
            ("[x]", "unexpected '['"),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:",
                "expected an attribute name after the schema",
            ),
            (r#"emails[x[y eq "1"]]"#, "value paths cannot be nested"),
        ];
        for (text, detail) in cases {
            let error = AttrPath::parse(text).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidPath), "{text}");
            assert!(error.detail.contains(detail), "{text}: {}", error.detail);
        }
    }

    #[test]
    fn display_gives_the_path_back() {
        for text in [
            "name.givenName",
            r#"emails[type eq "work"].value"#,
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ] {
            assert_eq!(AttrPath::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn the_bracket_filter_matches_elements() {
        let path = AttrPath::parse(r#"emails[type eq "work" and value co "@ACME.com"]"#).unwrap();
        let filter = path.filter.unwrap();
        assert!(filter.matches(&serde_json::json!({"type": "Work", "value": "a@acme.com"})));
        assert!(!filter.matches(&serde_json::json!({"type": "home", "value": "a@acme.com"})));
    }
}
