//! Provider settings: the account keys a provider declares in its descriptor beyond the
//! ones every account has, checked against their field kinds when the config is read.
//!
//! The config module keeps these keys as they were written ([`SettingValue`]); which keys
//! exist, what they hold and which are required is the provider's business, declared once
//! in its [`Descriptor`]. The checked values ([`Settings`]) are what the provider's
//! [`prepare`](super::Provider::prepare) turns into its own typed settings.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Descriptor, FieldKind, FieldProblem, FieldSpec};
use crate::config::SettingValue;

/// Keys every account has, whatever its provider: not provider settings.
pub const COMMON_KEYS: &[&str] = &[
    "id",
    "provider",
    "username",
    "secret",
    "server",
    "keepalive",
];

/// One checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// Text, host names (lowercase, no trailing dot), URLs, addresses and choices (spelled
    /// as the descriptor lists them).
    Text(String),
    /// A number within its field's range.
    Number(i64),
    /// A boolean.
    Flag(bool),
}

/// An account's provider settings, each checked against its field's kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, Setting>,
}

impl Settings {
    /// The text of `key`, when given.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Setting::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// The number of `key`, when given.
    pub fn number(&self, key: &str) -> Option<i64> {
        match self.values.get(key) {
            Some(Setting::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// The boolean of `key`, when given.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.values.get(key) {
            Some(Setting::Flag(b)) => Some(*b),
            _ => None,
        }
    }

    /// Every value as text, by key: part of a record's settings fingerprint, in the form
    /// the first versions stored for RFC 2136's `zone`, `ttl` and `algorithm`.
    pub fn as_strings(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    Setting::Text(text) => text.clone(),
                    Setting::Number(n) => n.to_string(),
                    Setting::Flag(b) => b.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
}

/// The provider fields of a descriptor: its account fields less the common ones.
fn provider_fields(descriptor: &Descriptor) -> impl Iterator<Item = &'static FieldSpec> {
    descriptor
        .account_fields
        .iter()
        .filter(|f| !COMMON_KEYS.contains(&f.key))
}

/// Checks raw settings against `descriptor`: every key known, every value of its field's
/// kind and within its range, every required field given. Reports every problem at once.
pub fn check(
    descriptor: &Descriptor,
    raw: &BTreeMap<String, SettingValue>,
) -> Result<Settings, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut values = BTreeMap::new();
    for (key, value) in raw {
        let Some(spec) = provider_fields(descriptor).find(|f| f.key == key) else {
            let known: Vec<&str> = provider_fields(descriptor)
                .map(|f| f.key)
                .chain(COMMON_KEYS.iter().copied())
                .collect();
            let message = match crate::config::closest(key, &known) {
                Some(hint) => format!(
                    "{} has no setting `{key}`; did you mean `{hint}`?",
                    descriptor.name
                ),
                None => format!("{} has no setting `{key}`", descriptor.name),
            };
            problems.push(FieldProblem::new(key, message));
            continue;
        };
        match parse(spec, value) {
            Ok(setting) => {
                values.insert(key.clone(), setting);
            }
            Err(message) => problems.push(FieldProblem::new(key, message)),
        }
    }
    for spec in provider_fields(descriptor).filter(|f| f.required) {
        if !raw.contains_key(spec.key) {
            problems.push(FieldProblem::new(
                spec.key,
                format!(
                    "{} needs `{}` ({})",
                    descriptor.name,
                    spec.key,
                    spec.label.to_lowercase()
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(Settings { values })
    } else {
        Err(problems)
    }
}

/// One value, checked against its field.
fn parse(spec: &FieldSpec, value: &SettingValue) -> Result<Setting, String> {
    let found = || match value {
        SettingValue::Text(_) => "a string",
        SettingValue::Integer(_) => "a number",
        SettingValue::Bool(_) => "true or false",
    };
    match (spec.kind, value) {
        (FieldKind::Bool | FieldKind::Tristate, SettingValue::Bool(b)) => Ok(Setting::Flag(*b)),
        (FieldKind::Bool | FieldKind::Tristate, _) => {
            Err(format!("expected true or false, found {}", found()))
        }
        (FieldKind::Number, SettingValue::Integer(n)) => {
            let (min, max) = spec.range.unwrap_or((i64::MIN, i64::MAX));
            if (min..=max).contains(n) {
                Ok(Setting::Number(*n))
            } else {
                Err(format!("must be a whole number from {min} to {max}"))
            }
        }
        (FieldKind::Number, _) => Err(format!("expected a whole number, found {}", found())),
        (_, SettingValue::Text(text)) => parse_text(spec, text).map(Setting::Text),
        (_, _) => Err(format!("expected a string, found {}", found())),
    }
}

fn parse_text(spec: &FieldSpec, text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    match spec.kind {
        FieldKind::Choice => spec
            .options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(text.trim()))
            .map(|o| (*o).to_owned())
            .ok_or_else(|| format!("use one of: {}", spec.options.join(", "))),
        FieldKind::Hostname => crate::config::normalize_hostname(text, false),
        FieldKind::Url => crate::config::check_url(text).map(|_| text.to_owned()),
        FieldKind::Address => text
            .trim()
            .parse::<IpAddr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("`{text}` is not an IP address")),
        _ => {
            if text.chars().any(char::is_control) {
                Err("must not contain control characters or line breaks".to_owned())
            } else {
                Ok(text.trim().to_owned())
            }
        }
    }
}

/// A value from the settings form as the file should hold it: the form sends every input
/// as text, so a number field's `"60"` becomes `60` and a yes/no field's `"true"` becomes
/// `true`. Anything else is kept as sent, for the check to judge.
pub fn from_form(descriptor: &Descriptor, key: &str, value: &SettingValue) -> SettingValue {
    let Some(spec) = provider_fields(descriptor).find(|f| f.key == key) else {
        return value.clone();
    };
    match (spec.kind, value) {
        (FieldKind::Number, SettingValue::Text(text)) => text
            .trim()
            .parse::<i64>()
            .map_or_else(|_| value.clone(), SettingValue::Integer),
        (FieldKind::Bool | FieldKind::Tristate, SettingValue::Text(text)) => match text.trim() {
            "true" => SettingValue::Bool(true),
            "false" => SettingValue::Bool(false),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc2136() -> &'static Descriptor {
        crate::provider::lookup("rfc2136").unwrap().descriptor()
    }

    fn raw(pairs: &[(&str, SettingValue)]) -> BTreeMap<String, SettingValue> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn values_are_checked_by_kind_and_every_problem_reported() {
        let problems = check(
            rfc2136(),
            &raw(&[
                ("ttl", SettingValue::Text("60".into())),
                ("algorithm", SettingValue::Text("md5".into())),
                ("zoen", SettingValue::Text("example.org".into())),
            ]),
        )
        .unwrap_err();
        let by_key: BTreeMap<&str, &str> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(by_key["ttl"], "expected a whole number, found a string");
        assert!(by_key["algorithm"].starts_with("use one of: hmac-sha256"));
        assert!(by_key["zoen"].contains("did you mean `zone`?"));
        assert!(by_key["zone"].contains("needs `zone`"));
        assert_eq!(problems.len(), 4);
    }

    #[test]
    fn checked_values_are_normalized() {
        let settings = check(
            rfc2136(),
            &raw(&[
                ("ttl", SettingValue::Integer(300)),
                ("algorithm", SettingValue::Text("HMAC-SHA512".into())),
                ("zone", SettingValue::Text("Example.ORG.".into())),
            ]),
        )
        .unwrap();
        assert_eq!(settings.number("ttl"), Some(300));
        assert_eq!(settings.text("algorithm"), Some("hmac-sha512"));
        assert_eq!(settings.text("zone"), Some("example.org"));
        let out_of_range = check(
            rfc2136(),
            &raw(&[
                ("ttl", SettingValue::Integer(i64::MAX)),
                ("zone", SettingValue::Text("example.org".into())),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            out_of_range[0].message,
            "must be a whole number from 1 to 86400"
        );
    }

    #[test]
    fn form_text_becomes_the_field_kind() {
        let d = rfc2136();
        assert_eq!(
            from_form(d, "ttl", &SettingValue::Text(" 60 ".into())),
            SettingValue::Integer(60)
        );
        assert_eq!(
            from_form(d, "ttl", &SettingValue::Text("soon".into())),
            SettingValue::Text("soon".into())
        );
        assert_eq!(
            from_form(d, "zone", &SettingValue::Text("60".into())),
            SettingValue::Text("60".into())
        );
    }
}
