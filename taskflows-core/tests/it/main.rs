//! Integration tests of taskflows-core: rendering, service files, validation, schema.

mod bad_input;
mod calendar_differential;
mod cases;
mod environment_file;
mod generate;
mod props;
mod render;
mod schema;
mod verify;
