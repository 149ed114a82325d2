//! The operations layer's tests: the JSON contract (schema and shapes), the operations that need
//! no systemd, and the logs' push to Loki (against a stand-in). Real-systemd tests of the
//! operations run through `tf` (taskflows-cli).

mod contract;
mod loki;
mod offline;
mod paths;
