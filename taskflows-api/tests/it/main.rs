//! The operations layer's tests: the JSON contract (schema and shapes), and the operations that
//! need no systemd. Real-systemd tests of the operations run through `tf` (taskflows-cli).

mod contract;
mod offline;
mod paths;
