//! Socket Mode: the bot opens WebSocket connections to Slack with the app-level token
//! (`apps.connections.open`), so it needs no public URL. slack-morphism keeps the connections
//! up (reconnecting, pinging); each envelope is acknowledged as soon as it is handed to the bot.

use std::sync::Arc;

use taskflows_alerts::slack_morphism::errors::SlackClientError;
use taskflows_alerts::slack_morphism::prelude::*;

use super::{Bot, events};

/// The bot of the listener's user state.
async fn bot_of(states: &SlackClientEventsUserState) -> Option<Bot> {
    states.read().await.get_user_state::<Bot>().cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if let Some(bot) = bot_of(&states).await {
        bot.receive(events::command(&event));
    }
    // Nothing to show at once: the answer is posted when it is ready.
    Ok(SlackCommandEventResponse::new(SlackMessageContent::new()))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(bot) = bot_of(&states).await {
        for inbound in events::interaction(&event) {
            bot.receive(inbound);
        }
    }
    Ok(())
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(bot) = bot_of(&states).await
        && let Some(inbound) = events::push(&event)
    {
        bot.receive(inbound);
    }
    Ok(())
}

fn on_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _states: SlackClientEventsUserState,
) -> HttpStatusCode {
    let reason = match error.downcast_ref::<SlackClientError>() {
        Some(e) => super::web::describe(e),
        None => "an event the bot could not handle".to_owned(),
    };
    tracing::warn!(%reason, "slack: Socket Mode");
    // Acknowledge anyway: Slack would only send it again.
    HttpStatusCode::OK
}

/// Serve Slack's events over Socket Mode until `stop` resolves.
pub async fn run(bot: Bot, app_token: &str, stop: impl std::future::Future<Output = ()>) -> crate::Result<()> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(bot.web().client())
            .with_error_handler(on_error)
            .with_user_state(bot.clone()),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let listener = SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), environment, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue(app_token.to_owned()));
    listener.listen_for(&token).await.map_err(|e| crate::Error::Refused {
        message: format!("slack: cannot open a Socket Mode connection: {}", super::web::describe(&e)),
        hint: Some(
            "check SLACK_APP_TOKEN (an app-level token with connections:write) and that Socket Mode is on".into(),
        ),
    })?;
    listener.start().await;
    tracing::info!("slack: connected over Socket Mode");
    stop.await;
    listener.shutdown().await;
    Ok(())
}
