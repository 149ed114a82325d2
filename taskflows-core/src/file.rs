//! Service files (TOML with `[[service]]` tables), environment files (one `[venv]` or
//! `[docker]` table), and their JSON Schemas.

use serde::Deserialize;

use crate::environment::{DockerContainer, Environment, Venv};
use crate::error::Error;
use crate::service::ServiceSpec;

/// The service-file format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A service file: a format version and any number of services.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "taskflows service file")]
struct ServiceFile {
    /// The format version; 1, the default.
    #[serde(default)]
    version: Option<u32>,
    /// The services, one `[[service]]` table each.
    #[serde(default)]
    #[schemars(with = "Vec<ServiceSpec>")]
    service: Vec<toml::Spanned<ServiceSpec>>,
}

/// Read the services of a TOML service file; `file` names it in error messages.
///
/// Errors give the file, line and column, the field's path (`service[0].timeout`) and what is
/// allowed. Every service is validated, and two services with one name are refused.
pub fn parse_service_file(file: &str, content: &str) -> Result<Vec<ServiceSpec>, Error> {
    let at = |offset: usize, field: String, message: String| error_at(file, content, offset, field, message);
    let parsed: ServiceFile = deserialize(file, content)?;
    check_version(parsed.version).map_err(|m| at(0, "version".to_owned(), m))?;
    let starts = service_starts(content);
    let mut names = std::collections::HashSet::with_capacity(parsed.service.len());
    let mut services: Vec<ServiceSpec> = Vec::with_capacity(parsed.service.len());
    for (i, spanned) in parsed.service.into_iter().enumerate() {
        let span = spanned.span();
        let spec = spanned.into_inner();
        let start = starts.get(i).copied().unwrap_or(span.start);
        if !names.insert(spec.name.clone()) {
            return Err(at(
                start,
                format!("service[{i}].name"),
                format!("{:?} is already the name of another service in this file", spec.name.as_str()),
            ));
        }
        spec.validate().map_err(|e| match e {
            Error::Field { field, message } => {
                let field = field.replacen(&format!("service[{}]", spec.name), &format!("service[{i}]"), 1);
                let offset = locate(content, start, field.split_once('.').map_or("", |(_, f)| f));
                at(offset, field, message)
            }
            other => other,
        })?;
        services.push(spec);
    }
    Ok(services)
}

/// A `file:line:column: field: message` error at byte `offset` of `content`.
fn error_at(file: &str, content: &str, offset: usize, field: String, message: String) -> Error {
    let (line, column) = line_column(content, offset);
    Error::File { file: file.to_owned(), line, column, field, message }
}

/// Deserialize a TOML document; errors name the place and the field's path.
fn deserialize<T: serde::de::DeserializeOwned>(file: &str, content: &str) -> Result<T, Error> {
    let at = |offset: usize, field: String, message: String| error_at(file, content, offset, field, message);
    let de = toml::Deserializer::parse(content)
        .map_err(|e| at(e.span().map_or(0, |s| s.start), String::new(), e.message().to_owned()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string().replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let field = if path == "." { String::new() } else { path };
        at(inner.span().map_or(0, |s| s.start), field, inner.message().to_owned())
    })
}

fn check_version(version: Option<u32>) -> Result<(), String> {
    match version {
        Some(v) if v != FORMAT_VERSION => {
            Err(format!("version {v} is not supported; this taskflows reads version {FORMAT_VERSION}"))
        }
        _ => Ok(()),
    }
}

/// Where each `[[service]]` table starts, in order.
fn service_starts(content: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in content.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("[[service]]") {
            starts.push(offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    starts
}

/// Best effort: the offset of the key `path` (`cgroup_config.cpu_weight`) in the table that
/// starts at `from`, found key by key; `from` when a key is not written out.
fn locate(content: &str, from: usize, path: &str) -> usize {
    let end = content[from + 1.min(content.len() - from)..].find("[[service]]").map_or(content.len(), |e| from + 1 + e);
    let mut at = from;
    for key in path.split('.').map(|k| k.split('[').next().unwrap_or(k)) {
        let found = content[at..end].match_indices(key).find(|(i, _)| {
            let before = content[..at + i].chars().next_back();
            let after = content[at + i + key.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        });
        match found {
            Some((i, _)) => at += i,
            None => break,
        }
    }
    at
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(content: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(content.len());
    let before = &content[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The JSON Schema of service files, pretty-printed, ending in a newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ServiceFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

/// An environment file: a format version and one `[venv]` or `[docker]` table.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "taskflows environment file")]
struct EnvironmentFile {
    /// The format version; 1, the default.
    #[serde(default)]
    version: Option<u32>,
    /// A conda/mamba/micromamba environment.
    #[schemars(with = "Option<Venv>")]
    venv: Option<toml::Spanned<Venv>>,
    /// A Docker container.
    #[schemars(with = "Option<DockerContainer>")]
    docker: Option<toml::Spanned<Box<DockerContainer>>>,
}

/// Read a stored environment's file: `version` and one `[venv]` or `[docker]` table, with the
/// same fields and checks as a service's inline `environment`; `file` names it in error messages.
pub fn parse_environment_file(file: &str, content: &str) -> Result<Environment, Error> {
    let at = |offset: usize, field: &str, message: String| error_at(file, content, offset, field.to_owned(), message);
    let parsed: EnvironmentFile = deserialize(file, content)?;
    check_version(parsed.version).map_err(|m| at(0, "version", m))?;
    match (parsed.venv, parsed.docker) {
        (Some(venv), None) => Ok(Environment::Venv(venv.into_inner())),
        (None, Some(docker)) => {
            let start = docker.span().start;
            let docker = docker.into_inner();
            docker.check().map_err(|e| match e {
                Error::Field { field, message } => {
                    at(locate(content, start, &field), &format!("docker.{field}"), message)
                }
                other => other,
            })?;
            Ok(Environment::Docker(docker))
        }
        (Some(_), Some(docker)) => Err(at(
            docker.span().start,
            "docker",
            "an environment file holds one table, [venv] or [docker], not both".to_owned(),
        )),
        (None, None) => Err(at(0, "", "an environment file needs one [venv] or [docker] table".to_owned())),
    }
}

/// The text taskflows stores for an environment file that parsed: its tables re-serialized,
/// after `version = 1`. Comments and layout are not kept.
pub fn stored_environment_text(content: &str) -> Result<String, Error> {
    let mut table: toml::Table = deserialize("environment", content)?;
    table.insert("version".to_owned(), toml::Value::Integer(FORMAT_VERSION.into()));
    Ok(toml::to_string(&table).expect("a TOML table serializes"))
}

/// For each service of a service file that parsed, its name and a file holding only its table
/// (re-serialized, after `version = 1`): what taskflows keeps to re-create the service later.
pub fn service_definitions(content: &str) -> Result<Vec<(String, String)>, Error> {
    let mut file: toml::Table = deserialize("service file", content)?;
    let services = match file.remove("service") {
        Some(toml::Value::Array(services)) => services,
        _ => Vec::new(),
    };
    Ok(services
        .into_iter()
        .filter_map(|service| {
            let name = service.get("name")?.as_str()?.to_owned();
            let mut one = toml::Table::new();
            one.insert("version".to_owned(), toml::Value::Integer(FORMAT_VERSION.into()));
            one.insert("service".to_owned(), toml::Value::Array(vec![service]));
            Some((name, toml::to_string(&one).expect("a TOML table serializes")))
        })
        .collect())
}

/// The JSON Schema of environment files, pretty-printed, ending in a newline.
pub fn environment_json_schema() -> String {
    let schema = schemars::schema_for!(EnvironmentFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
