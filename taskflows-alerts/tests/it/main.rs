//! Integration tests: the task matrix, and alerts against a real SMTP server and a local HTTP
//! server speaking Slack's Web API and webhooks.

mod alerts;
mod email;
mod slack_actions;
mod support;
mod task;
