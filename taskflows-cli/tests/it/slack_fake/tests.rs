//! The fake against slack-morphism itself: its frames and payloads deserialize into
//! slack-morphism's models, and slack-morphism's client and Socket Mode listener work with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

use super::*;
use crate::{figure, wait_for};

/// Plain HTTP: `SlackClientHyperConnector::new()` is HTTPS-only and refuses `http://` URLs.
type Connector = SlackClientHyperConnector<HttpConnector>;

#[test]
fn the_payloads_deserialize_into_slack_morphisms_models() {
    // (slack-morphism's Socket Mode frame models are not public: `crate::socket_mode` shadows
    // `models::socket_mode`; the listener test below shows it parses the frames.)
    let command = slash_command("U1", "C1", "status web", "http://127.0.0.1:1/respond/1");
    let command: SlackCommandEvent = serde_json::from_value(command).unwrap();
    assert_eq!((command.user_id.0.as_str(), command.channel_id.0.as_str()), ("U1", "C1"));
    assert_eq!((command.command.0.as_str(), command.text.as_deref()), ("/tf", Some("status web")));
    assert_eq!(command.response_url.0.as_str(), "http://127.0.0.1:1/respond/1");

    let action = block_action("U1", "C1", "1700000000.000100", "restart", "web", "http://127.0.0.1:1/respond/2");
    let action: SlackInteractionEvent = serde_json::from_value(action).unwrap();
    let SlackInteractionEvent::BlockActions(action) = action else { panic!("{action:?}") };
    assert_eq!(action.user.unwrap().id.0, "U1");
    assert_eq!(action.channel.unwrap().id.0, "C1");
    let SlackInteractionActionContainer::Message(container) = action.container else { panic!("a message container") };
    assert_eq!(container.message_ts.0, "1700000000.000100");
    assert_eq!(action.message.unwrap().origin.ts.0, "1700000000.000100");
    let actions = action.actions.unwrap();
    assert_eq!((actions[0].action_id.0.as_str(), actions[0].value.as_deref()), ("restart", Some("web")));

    let mention = app_mention("U1", "C1", "<@U0BOT> status", "1700000000.000300");
    let mention: SlackPushEventCallback = serde_json::from_value(mention).unwrap();
    let SlackEventCallbackBody::AppMention(mention) = mention.event else {
        panic!("an app_mention, not {:?}", mention.event)
    };
    assert_eq!((mention.user.0.as_str(), mention.channel.0.as_str()), ("U1", "C1"));
    assert_eq!(mention.content.text.as_deref(), Some("<@U0BOT> status"));
}

#[test]
fn sign_matches_slacks_example_and_slack_morphisms_verifier() {
    // The example of https://api.slack.com/authentication/verifying-requests-from-slack
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    // slack-morphism also checks the timestamp is recent.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new("s3cret".into()));
    verifier.verify(&sign("s3cret", &now, body), body, &now).unwrap();
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<Connector>>,
    _state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = format!("status of {}", event.text.unwrap_or_default());
    Ok(SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text)))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    client: Arc<SlackClient<Connector>>,
    _state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let SlackInteractionEvent::BlockActions(action) = event
        && let Some(url) = action.response_url
    {
        let content = SlackMessageContent::new().with_text("restarting web".into());
        let reply = SlackApiPostWebhookMessageRequest::new(content).with_replace_original(true);
        client.respond_to_event(&url, &reply).await?;
    }
    Ok(())
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackClient<Connector>>,
    _state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let SlackEventCallbackBody::AppMention(mention) = event.event {
        seen(format!("app_mention {}", mention.content.text.unwrap_or_default()));
    }
    Ok(())
}

/// What the listener's callbacks received (one test uses them).
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn seen(what: String) {
    SEEN.lock().unwrap().push(what);
}

#[test]
fn slack_morphisms_client_and_socket_mode_listener_work_against_the_fake() {
    let started = Instant::now();
    let second = Duration::from_secs(1);
    let fake = SlackFake::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let connector = Connector::with_connector(HttpConnector::new()).with_slack_api_url(&fake.api_url());
    let client = Arc::new(SlackClient::new(connector));
    let bot = SlackApiToken::new(SlackFake::BOT_TOKEN.into());

    // The Web API: a message with blocks, as recorded by the fake.
    let session = client.open_session(&bot);
    let me = runtime.block_on(session.auth_test()).unwrap();
    assert_eq!((me.user_id.0.as_str(), me.team_id.0.as_str()), (SlackFake::BOT_USER_ID, SlackFake::TEAM_ID));
    let blocks = vec![SlackBlock::Section(SlackSectionBlock::new().with_text(md!("*web* failed")))];
    let content = SlackMessageContent::new().with_text("web failed".into()).with_blocks(blocks);
    let post = SlackApiChatPostMessageRequest::new("C1".into(), content);
    let posted = runtime.block_on(session.chat_post_message(&post)).unwrap();
    assert_eq!(posted.channel.0, "C1");
    assert!(posted.ts.0.starts_with("1700000000."), "{}", posted.ts.0);
    let call = fake.wait_for("chat.postMessage", |c| c.body["channel"] == "C1", second);
    assert_eq!(call.auth.as_deref(), Some("Bearer xoxb-fake-bot-token"));
    assert_eq!(call.body["text"], "web failed");
    assert_eq!(call.body["blocks"][0]["type"], "section");
    assert_eq!(call.body["blocks"][0]["text"]["text"], "*web* failed");
    assert_eq!(call.path, "/api//chat.postMessage", "slack-morphism joins the base URL and method with a /");

    // Errors come back as slack-morphism's API errors.
    fake.fail_next("chat.postMessage", "not_in_channel");
    match runtime.block_on(session.chat_post_message(&post)) {
        Err(SlackClientError::ApiError(e)) => assert_eq!(e.code, "not_in_channel"),
        other => panic!("expected not_in_channel, got {other:?}"),
    }
    let again = runtime.block_on(session.chat_post_message(&post)).unwrap();
    assert!(again.ts.0 > posted.ts.0, "a fresh, later ts: {} after {}", again.ts.0, posted.ts.0);
    let stranger = SlackApiToken::new("xoxb-someone-else".into());
    match runtime.block_on(client.open_session(&stranger).auth_test()) {
        Err(SlackClientError::ApiError(e)) => assert_eq!(e.code, "invalid_auth"),
        other => panic!("expected invalid_auth, got {other:?}"),
    }

    // A file upload in its three steps, and a user group's members.
    let log = b"line 1\nline 2\n".to_vec();
    let url = runtime
        .block_on(
            session
                .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new("web.log".into(), log.len())),
        )
        .unwrap();
    let upload = SlackApiFilesUploadViaUrlRequest::new(url.upload_url.clone(), log, "text/plain".into());
    runtime.block_on(session.files_upload_via_url(&upload)).unwrap();
    let files = vec![SlackApiFilesComplete::new(url.file_id.clone()).with_title("web.log".into())];
    let complete = SlackApiFilesCompleteUploadExternalRequest::new(files).with_channel_id("C1".into());
    let completed = runtime.block_on(session.files_complete_upload_external(&complete)).unwrap();
    assert_eq!(completed.files[0].id, url.file_id);
    let asked = fake.wait_for("files.getUploadURLExternal", |_| true, second);
    assert_eq!((asked.body["filename"].as_str(), asked.body["length"].as_str()), (Some("web.log"), Some("14")));
    assert_eq!(fake.wait_for("upload", |_| true, second).body, "line 1\nline 2\n");
    assert_eq!(fake.wait_for("files.completeUploadExternal", |_| true, second).body["channel_id"], "C1");
    fake.set_group("S123", &["U1", "U2"]);
    let members = runtime
        .block_on(session.usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new("S123".into())))
        .unwrap();
    assert_eq!(members.users, vec![SlackUserId("U1".into()), SlackUserId("U2".into())]);

    // Socket Mode: slack-morphism's listener with its default configuration (2 connections, the
    // second 5 s after the first).
    let callbacks = SlackSocketModeListenerCallbacks::new()
        // (the hello model is not public: a closure names it by inference)
        .with_hello_events(|hello, _, _| async move { seen(format!("hello {}", hello.connection_info.app_id.0)) })
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let environment = Arc::new(SlackClientEventsListenerEnvironment::new(client.clone()));
    let listener = SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), environment, callbacks);
    let app = SlackApiToken::new(SlackFake::APP_TOKEN.into());
    runtime.block_on(async {
        listener.listen_for(&app).await.unwrap();
        listener.start().await;
    });
    fake.wait_connected(Duration::from_secs(2));
    let open = fake.wait_for("apps.connections.open", |_| true, second);
    assert_eq!(open.auth.as_deref(), Some("Bearer xapp-1-fake-app-token"));

    let command = slash_command("U1", "C1", "web", &fake.response_url());
    let id = fake.send_envelope("slash_commands", command);
    let ack = fake.wait_ack(&id, Duration::from_secs(3));
    // The command's reply rides on the ack.
    assert_eq!(ack, json!({"envelope_id": id, "payload": {"text": "status of web"}}));
    assert!(fake.ack_latency(&id) < Duration::from_secs(3));

    let respond = fake.response_url();
    let id = fake.send_envelope("interactive", block_action("U1", "C1", &posted.ts.0, "restart", "web", &respond));
    assert_eq!(fake.wait_ack(&id, Duration::from_secs(3)), json!({"envelope_id": id}));
    let reply = fake.wait_for("response_url", |c| c.path.ends_with(&respond[respond.rfind('/').unwrap()..]), second);
    assert_eq!(
        (reply.body["text"].as_str(), reply.body["replace_original"].as_bool()),
        (Some("restarting web"), Some(true))
    );
    assert_eq!(reply.auth, None);

    let id = fake.send_envelope("events_api", app_mention("U1", "C1", "<@U0BOT> status", "1700000000.000900"));
    assert_eq!(fake.wait_ack(&id, Duration::from_secs(3)), json!({"envelope_id": id}));
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen, ["hello A0FAKE", "app_mention <@U0BOT> status"]);

    // Asked to reconnect, the listener opens a new connection at once and closes the old one.
    fake.send_disconnect("refresh_requested");
    wait_for(second, Duration::from_millis(10), || {
        let opened = fake.calls_of("apps.connections.open").len();
        match (opened, fake.live_connections(), SEEN.lock().unwrap().len()) {
            (2, 1, 3) => Ok(()),
            state => Err(format!("(connections opened, live, callbacks) = {state:?}")),
        }
    });
    let id = fake.send_envelope("slash_commands", slash_command("U1", "C1", "api", &fake.response_url()));
    assert_eq!(fake.wait_ack(&id, Duration::from_secs(3))["payload"]["text"], "status of api");
    figure(&format!("slack fake: a slash command acked in {:?}", fake.ack_latency(&id)));

    runtime.block_on(listener.shutdown());
    runtime.shutdown_timeout(Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
