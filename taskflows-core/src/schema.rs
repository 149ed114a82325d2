//! JSON Schemas of types that schemars does not describe itself: jiff 1's (schemars knows jiff
//! 0.2 only). Fields name them with `#[schemars(with = "…")]`; the schemas are the ones schemars
//! gives jiff 0.2's types, so the published contract is unchanged.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The schema of a [`jiff::Timestamp`]: an RFC 3339 string (`"2026-12-05T08:00:00Z"`).
pub struct Timestamp;

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "jiff::Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}
