//! Names: of taskflows services, and of the systemd units they relate to.

use std::fmt;

use crate::error::ValueError;
use crate::value::string_newtype;

/// The longest service name: the longest unit built from it, `restart-taskflows-NAME.service`,
/// must stay within systemd's 255-character limit.
pub const MAX_SERVICE_NAME_LEN: usize = 200;

const RESERVED: [&str; 4] = ["systemd", "init", "system", "user"];

/// The name of a taskflows service: units are named `taskflows-NAME.service` and so on.
///
/// Allowed: letters, digits, `.`, `_` and `-`; not starting or ending with `.` or `-`; no `..`;
/// at most [`MAX_SERVICE_NAME_LEN`] characters; not one of the reserved words `systemd`, `init`,
/// `system`, `user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    /// Accept `s` if it follows the rules above.
    pub fn new(s: impl Into<String>) -> Result<ServiceName, ValueError> {
        let s = s.into();
        const ALLOWED: &str = "use letters, digits, '.', '_' and '-'";
        if s.is_empty() {
            return Err(ValueError::new(format!("must not be empty ({ALLOWED})")));
        }
        if s.chars().count() > MAX_SERVICE_NAME_LEN {
            return Err(ValueError::new(format!(
                "{:?} is longer than {MAX_SERVICE_NAME_LEN} characters",
                truncate(&s, 40)
            )));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
            return Err(ValueError::new(format!("{:?} contains {c:?}; {ALLOWED}", truncate(&s, 40))));
        }
        if s.starts_with(['.', '-']) || s.ends_with(['.', '-']) {
            return Err(ValueError::new(format!("{s:?} must not start or end with '.' or '-'")));
        }
        if s.contains("..") {
            return Err(ValueError::new(format!("{s:?} must not contain '..'")));
        }
        if RESERVED.contains(&s.to_ascii_lowercase().as_str()) {
            return Err(ValueError::new(format!(
                "{s:?} is reserved (systemd, init, system and user cannot be service names)"
            )));
        }
        Ok(ServiceName(s))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `taskflows-NAME`, the stem of the service's own units.
    pub fn unit_stem(&self) -> String {
        format!("taskflows-{}", self.0)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(
    ServiceName,
    "ServiceName",
    "Service name: letters, digits, '.', '_' and '-', not starting or ending with '.' or '-', no '..', not systemd/init/system/user.",
    { "pattern": "^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$", "maxLength": 200 }
);

/// Unit types systemd knows; a unit name ending in one of these is taken as it is.
const UNIT_SUFFIXES: [&str; 11] =
    ["service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope"];

/// A systemd unit named in a relation (`After=`, `Requires=` …).
///
/// Written in a service file as a unit name (`postgresql`, `network-online.target`) or, to name
/// another taskflows service, as `{ service = "NAME" }`. A name without a unit-type suffix gets
/// `.service` appended, so `db` means `db.service` (systemd would silently ignore `After=db`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitName(String);

impl UnitName {
    /// Accept a unit name, appending `.service` when it has no unit-type suffix.
    pub fn new(s: impl Into<String>) -> Result<UnitName, ValueError> {
        let s = s.into();
        if s.is_empty() {
            return Err(ValueError::new("unit name must not be empty"));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c))) {
            return Err(ValueError::new(format!(
                "unit name {:?} contains {c:?}; use letters, digits, ':', '-', '_', '.', '\\' and '@'",
                truncate(&s, 40)
            )));
        }
        let has_suffix =
            s.rsplit_once('.').is_some_and(|(stem, suffix)| !stem.is_empty() && UNIT_SUFFIXES.contains(&suffix));
        let full = if has_suffix { s } else { format!("{s}.service") };
        if full.len() > 255 {
            return Err(ValueError::new(format!("unit name {:?} is longer than 255 characters", truncate(&full, 40))));
        }
        Ok(UnitName(full))
    }

    /// The unit of another taskflows service: `taskflows-NAME.service`.
    pub fn of_service(name: &ServiceName) -> UnitName {
        UnitName(format!("{}.service", name.unit_stem()))
    }

    /// The full unit name, always with its suffix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for UnitName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitName::new(s)
    }
}

impl serde::Serialize for UnitName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `"unit"` or `{ service = "NAME" }` in a service file.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum UnitNameRepr {
    Unit(String),
    Service {
        #[allow(dead_code, reason = "read through serde")]
        service: String,
    },
}

impl<'de> serde::Deserialize<'de> for UnitName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let repr = UnitNameRepr::deserialize(d)
            .map_err(|_| D::Error::custom("expected a unit name such as \"postgresql\" or { service = \"NAME\" }"))?;
        match repr {
            UnitNameRepr::Unit(s) => UnitName::new(s).map_err(D::Error::custom),
            UnitNameRepr::Service { service } => {
                ServiceName::new(service).map(|n| UnitName::of_service(&n)).map_err(D::Error::custom)
            }
        }
    }
}

impl schemars::JsonSchema for UnitName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UnitName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A systemd unit (a name without a suffix means NAME.service), or { service = \"NAME\" } for another taskflows service.",
            "anyOf": [
                { "type": "string", "pattern": "^[A-Za-z0-9:_.\\\\@-]+$" },
                {
                    "type": "object",
                    "properties": { "service": { "type": "string" } },
                    "required": ["service"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// At most `n` characters of `s`, for quoting long input in messages.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Match `name` against a glob with `*` (any run of characters) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
