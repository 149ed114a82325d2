//! The committed JSON Schema must match the one the code generates.

use std::path::PathBuf;

#[test]
fn committed_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/taskflows-service-file.schema.json");
    let generated = taskflows_core::file::json_schema();
    if std::env::var_os("TF_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/taskflows-service-file.schema.json is stale; regenerate it with `TF_UPDATE_SCHEMA=1 cargo test -p taskflows-core --test it schema` or `tf schema > schema/taskflows-service-file.schema.json`"
    );
}

#[test]
fn committed_environment_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/taskflows-environment-file.schema.json");
    let generated = taskflows_core::file::environment_json_schema();
    if std::env::var_os("TF_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/taskflows-environment-file.schema.json is stale; regenerate it with `TF_UPDATE_SCHEMA=1 cargo test -p taskflows-core --test it schema`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert!(schema["properties"]["venv"].is_object() && schema["properties"]["docker"].is_object(), "{schema}");
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}

#[test]
fn schema_describes_the_service_table() {
    let schema: serde_json::Value = serde_json::from_str(&taskflows_core::file::json_schema()).unwrap();
    let service = &schema["$defs"]["ServiceSpec"];
    for field in
        ["name", "start_command", "start_schedule", "restart_policy", "cgroup_config", "environment", "on_failure"]
    {
        assert!(service["properties"].get(field).is_some(), "schema lacks service.{field}: {service}");
    }
    assert_eq!(service["additionalProperties"], serde_json::json!(false));
}
