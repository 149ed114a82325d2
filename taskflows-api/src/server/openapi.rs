//! `GET /openapi.json`: the routes, with request and answer schemas generated (schemars) from
//! the very types the server and the client (de)serialize.

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value, json};

use crate::wire::{CheckBody, ControlBody, EnvironmentBody, ErrorAnswer, Health, MonitorBody, RunBody};
use crate::{
    CheckReport, ControlReport, CreateReport, CreateRequest, EnvironmentChange, EnvironmentDetail, EnvironmentList,
    History, LogLine, Logs, MonitorReport, NextRuns, Plan, RunReport, ServiceList, StatusReport, UnitFiles,
};

/// A route: method, path, summary, query parameters, body type, answer type.
struct Route {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    answer: &'static str,
}

const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/health",
        summary: "Whether the server answers (the only route without a signature)",
        query: &[],
        body: None,
        answer: "Health",
    },
    Route { method: "get", path: "/openapi.json", summary: "This document", query: &[], body: None, answer: "" },
    Route {
        method: "get",
        path: "/services",
        summary: "The live state of the installed services (tf status)",
        query: &[("match", "a service name or glob"), ("running", "true: only running ones")],
        body: None,
        answer: "StatusReport",
    },
    Route {
        method: "post",
        path: "/services",
        summary: "Create or update services from service files (tf create); dry_run=true: the plan, changing nothing",
        query: &[("dry_run", "true: answer with the Plan instead")],
        body: Some("CreateRequest"),
        answer: "CreateReport",
    },
    Route {
        method: "delete",
        path: "/services/{name}",
        summary: "Stop, disable and delete services (tf remove)",
        query: &[("force", "true: go on without the Docker engine")],
        body: None,
        answer: "ControlReport",
    },
    Route {
        method: "get",
        path: "/services/{name}/status",
        summary: "One service's live state",
        query: &[],
        body: None,
        answer: "StatusReport",
    },
    Route {
        method: "get",
        path: "/services/{name}/logs",
        summary: "A service's journal; follow=true: server-sent events, one LogLine each",
        query: &[
            ("lines", "how many lines (1-10000, default 50)"),
            ("follow", "true: keep sending new lines"),
            ("since", "not before: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (UTC), now, or a duration ago (2h)"),
            ("until", "not after: the same forms as since"),
            ("grep", "only messages matching this PCRE2 pattern"),
            ("priority", "this priority or more severe: 0-7 or emerg, alert, crit, err, warning, notice, info, debug"),
            (
                "run",
                "one run's lines: last, or an invocation id (32 hex digits, or its first 8 or more); not with follow",
            ),
        ],
        body: None,
        answer: "Logs",
    },
    Route {
        method: "get",
        path: "/services/{name}/units",
        summary: "Installed unit files of services (tf show)",
        query: &[],
        body: None,
        answer: "UnitFiles",
    },
    Route {
        method: "post",
        path: "/services/{name}/{action}",
        summary: "start, stop, restart, enable or disable services",
        query: &[],
        body: Some("ControlBody"),
        answer: "ControlReport",
    },
    Route {
        method: "get",
        path: "/list",
        summary: "Installed services and their units (tf list)",
        query: &[("match", "a service name or glob")],
        body: None,
        answer: "ServiceList",
    },
    Route {
        method: "get",
        path: "/units",
        summary: "Installed unit files (tf show)",
        query: &[("match", "a service name or glob")],
        body: None,
        answer: "UnitFiles",
    },
    Route {
        method: "get",
        path: "/history",
        summary: "Past runs, newest first (tf history)",
        query: &[("match", "a service name or glob"), ("limit", "at most this many runs (1-10000, default 20)")],
        body: None,
        answer: "History",
    },
    Route {
        method: "get",
        path: "/next",
        summary: "Upcoming runs (tf next)",
        query: &[("match", "a service name or glob"), ("count", "runs per service (1-100, default 1)")],
        body: None,
        answer: "NextRuns",
    },
    Route {
        method: "post",
        path: "/check",
        summary: "Measure startup requirements (tf check)",
        query: &[],
        body: Some("CheckBody"),
        answer: "CheckReport",
    },
    Route {
        method: "post",
        path: "/runs",
        summary: "Run a command once under systemd and answer when it ended (tf run); a client that goes away stops it",
        query: &[],
        body: Some("RunBody"),
        answer: "RunReport",
    },
    Route {
        method: "post",
        path: "/monitor/check",
        summary: "Missed runs, failed runs, inactive timers (tf monitor check, without alerts)",
        query: &[],
        body: Some("MonitorBody"),
        answer: "MonitorReport",
    },
    Route {
        method: "get",
        path: "/environments",
        summary: "Stored environments (tf env list)",
        query: &[],
        body: None,
        answer: "EnvironmentList",
    },
    Route {
        method: "post",
        path: "/environments",
        summary: "Store a new environment (tf env create)",
        query: &[],
        body: Some("EnvironmentBody"),
        answer: "EnvironmentChange",
    },
    Route {
        method: "get",
        path: "/environments/{name}",
        summary: "One stored environment, values redacted (tf env show)",
        query: &[],
        body: None,
        answer: "EnvironmentDetail",
    },
    Route {
        method: "put",
        path: "/environments/{name}",
        summary: "Replace a stored environment (tf env update)",
        query: &[],
        body: Some("EnvironmentBody"),
        answer: "EnvironmentChange",
    },
    Route {
        method: "delete",
        path: "/environments/{name}",
        summary: "Delete an unused stored environment (tf env delete)",
        query: &[],
        body: None,
        answer: "EnvironmentChange",
    },
];

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> Vec<u8> {
    let settings = SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into());
    let mut generator = SchemaGenerator::new(settings);
    let mut schemas = serde_json::Map::new();
    macro_rules! add {
        ($($t:ty),*) => {$(
            schemas.insert(<$t as JsonSchema>::schema_name().into_owned(), generator.subschema_for::<$t>().to_value());
        )*};
    }
    add!(
        Health,
        StatusReport,
        CreateRequest,
        CreateReport,
        Plan,
        ControlReport,
        Logs,
        LogLine,
        UnitFiles,
        ControlBody,
        ServiceList,
        History,
        NextRuns,
        CheckBody,
        CheckReport,
        MonitorBody,
        MonitorReport,
        EnvironmentList,
        EnvironmentBody,
        EnvironmentChange,
        EnvironmentDetail,
        ErrorAnswer,
        RunBody,
        RunReport
    );
    // subschema_for gives references for named types; the definitions hold the schemas.
    let mut components: serde_json::Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    for (name, schema) in schemas {
        if schema.get("$ref").is_none() {
            components.entry(name).or_insert(schema);
        }
    }
    let reference = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let error = json!({ "description": "an error, as tf would say it", "content": { "application/json": { "schema": reference("ErrorAnswer") } } });
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut parameters: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        parameters.extend(r.query.iter().map(|(name, description)| {
            json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
        }));
        let ok = if r.answer.is_empty() {
            json!({ "description": "the answer", "content": { "application/json": {} } })
        } else {
            json!({ "description": "the answer", "content": { "application/json": { "schema": reference(r.answer) } } })
        };
        let mut op = json!({
            "summary": r.summary,
            "parameters": parameters,
            "responses": { "200": ok, "400": error, "401": error, "404": error, "413": error },
        });
        if r.path != "/health" {
            op["security"] = json!([{ "hmac": [] }]);
        }
        if let Some(body) = r.body {
            op["requestBody"] = json!({ "required": r.method == "post" && body != "ControlBody" && body != "MonitorBody", "content": { "application/json": { "schema": reference(body) } } });
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "taskflows API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operations of tf over HTTP. Every route but GET /health needs X-HMAC-Timestamp, X-HMAC-Nonce and X-HMAC-Signature (see the README's \"Signed requests\")."
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "hmac": { "type": "apiKey", "in": "header", "name": "X-HMAC-Signature", "description": "HMAC-SHA256 over timestamp, nonce, method, host, path, query and the body's SHA-256" } }
        }
    });
    serde_json::to_vec_pretty(&doc).expect("the document serializes")
}

#[cfg(test)]
mod tests {
    /// Every reference resolves, and every route of the router is in the document.
    #[test]
    fn the_document_is_whole() {
        let doc: serde_json::Value = serde_json::from_slice(&super::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        let mut refs = 0;
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schemas.contains_key(name), "unresolved reference to {name}");
            refs += 1;
        }
        assert!(refs > 40, "{refs} references");
        let paths = doc["paths"].as_object().unwrap();
        let source = include_str!("routes.rs");
        for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
            let path = line.split('"').nth(1).unwrap();
            assert!(paths.contains_key(path), "{path} is routed but not documented");
        }
        assert_eq!(doc["paths"]["/health"]["get"].get("security"), None);
        assert!(doc["paths"]["/services"]["get"]["security"].is_array());
    }
}
