//! Slack's events (slack-morphism's models, from either transport) as [`Inbound`]s.

use taskflows_alerts::slack_morphism::prelude::*;

use super::Inbound;

/// `/tf TEXT`.
pub(crate) fn command(event: &SlackCommandEvent) -> Inbound {
    Inbound::Command {
        user: event.user_id.0.clone(),
        channel: event.channel_id.0.clone(),
        text: event.text.clone().unwrap_or_default(),
        thread: None,
    }
}

/// The buttons clicked (one per event, in practice).
pub(crate) fn interaction(event: &SlackInteractionEvent) -> Vec<Inbound> {
    let SlackInteractionEvent::BlockActions(event) = event else { return Vec::new() };
    let Some(user) = event.user.as_ref().map(|u| u.id.0.clone()) else { return Vec::new() };
    let container = match &event.container {
        SlackInteractionActionContainer::Message(m) => Some(m),
        _ => None,
    };
    let channel = event
        .channel
        .as_ref()
        .map(|c| c.id.0.clone())
        .or_else(|| container.and_then(|c| c.channel_id.as_ref()).map(|c| c.0.clone()));
    let message_ts = container.map(|c| c.message_ts.0.clone());
    let (Some(channel), Some(message_ts)) = (channel, message_ts) else { return Vec::new() };
    let thread = event.message.as_ref().and_then(|m| m.origin.thread_ts.as_ref()).map(|t| t.0.clone());
    event
        .actions
        .iter()
        .flatten()
        .map(|a| Inbound::Action {
            user: user.clone(),
            channel: channel.clone(),
            message_ts: message_ts.clone(),
            thread: thread.clone(),
            action_id: a.action_id.0.clone(),
            value: a.value.clone().unwrap_or_default(),
        })
        .collect()
}

/// `@taskflows TEXT`: the words after the bot's mention, answered in the message's thread.
pub(crate) fn push(event: &SlackPushEventCallback) -> Option<Inbound> {
    let SlackEventCallbackBody::AppMention(mention) = &event.event else { return None };
    let text = mention.content.text.as_deref().unwrap_or_default();
    let thread = mention.origin.thread_ts.as_ref().unwrap_or(&mention.origin.ts).0.clone();
    Some(Inbound::Command {
        user: mention.user.0.clone(),
        channel: mention.channel.0.clone(),
        text: without_mentions(text),
        thread: Some(thread),
    })
}

/// `text` without the leading `<@U…>` mentions.
pub(crate) fn without_mentions(text: &str) -> String {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("<@") {
        match after.find('>') {
            Some(end) => rest = after[end + 1..].trim_start(),
            None => break,
        }
    }
    rest.trim().to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mention_loses_the_bots_name() {
        assert_eq!(super::without_mentions("<@U0BOT> status web"), "status web");
        assert_eq!(super::without_mentions("  <@U0BOT>   <@U1>logs x "), "logs x");
        assert_eq!(super::without_mentions("status"), "status");
    }
}
