//! The buttons of Slack alerts about services, as the bot that answers them reads them: the
//! `action_id`s and the JSON in each button's `value`.

use serde::{Deserialize, Serialize};

/// The `action_id` of the button that restarts the service (after a confirmation).
pub const RESTART: &str = "taskflows_restart";
/// The `action_id` of the button that shows the service's recent logs.
pub const LOGS: &str = "taskflows_logs";
/// The `action_id` of the button that silences the service's alerts for an hour.
pub const SILENCE: &str = "taskflows_silence";

/// The most characters Slack accepts in a button's `value`.
const VALUE_MAX: usize = 2000;

/// What a button acts on: a service, on a host when the alert named one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionValue {
    /// The taskflows service's name.
    pub service: String,
    /// The host the service runs on, when known.
    #[serde(default)]
    pub host: Option<String>,
}

impl ActionValue {
    /// The button's `value`: this as JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A button's `value` read back; `None` when it is not one of ours or longer than Slack
    /// allows (2000 characters).
    pub fn decode(value: &str) -> Option<ActionValue> {
        if value.chars().count() > VALUE_MAX {
            return None;
        }
        serde_json::from_str(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::ActionValue;

    #[test]
    fn values_round_trip() {
        let value = ActionValue { service: "backup-db".into(), host: Some("db1".into()) };
        assert_eq!(value.encode(), r#"{"service":"backup-db","host":"db1"}"#);
        assert_eq!(ActionValue::decode(&value.encode()), Some(value));
        let no_host = ActionValue::decode(r#"{"service":"a"}"#).unwrap();
        assert_eq!(no_host, ActionValue { service: "a".into(), host: None });
        assert_eq!(ActionValue::decode("restart please"), None);
        assert_eq!(ActionValue::decode(&format!(r#"{{"service":"{}"}}"#, "x".repeat(2000))), None);
    }
}
