//! Send one alert to a Slack channel, e.g. to try a bot token or to measure what the Slack
//! destination costs in a binary:
//! `SLACK_BOT_TOKEN=xoxb-… cargo run --release -p taskflows-alerts --example slack_alert -- '#alerts'`.

use taskflows_alerts::{Alert, Alerts, Slack};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let channel = std::env::args().nth(1).unwrap_or_else(|| "#alerts".to_owned());
    let alerts = Alerts::new([Slack::from_env(channel)?.into()]);
    let alert = Alert::check("slack-alert-example", "taskflows: a test alert", "sent by examples/slack_alert.rs", None);
    if alerts.deliver(&alert).await { Ok(()) } else { Err("the alert was not delivered (see the log)".into()) }
}
