//! An alert as Block Kit blocks: the title, the body and the table as code blocks, a row of
//! buttons per service, and a context line; within Slack's limit of 50 blocks a message.

use slack_morphism::prelude::{
    SlackActionBlockElement, SlackActionId, SlackActionsBlock, SlackBlock, SlackBlockButtonElement,
    SlackBlockButtonStyle, SlackBlockConfirmItem, SlackBlockId, SlackBlockMarkDownText, SlackBlockPlainText,
    SlackBlockText, SlackContextBlock, SlackContextBlockElement, SlackSectionBlock,
};

use crate::actions::{self, ActionValue};
use crate::alert::{Alert, AlertKind, truncate};
use crate::mrkdwn::{code, escape};
use crate::table::Table;

/// The most characters of a `section` block's text Slack accepts.
pub(super) const SECTION_MAX: usize = 3000;

/// The most blocks Slack accepts in a message.
const MESSAGE_MAX_BLOCKS: usize = 50;

/// The most services an alert has buttons for; the others are counted in a note.
const SERVICES_MAX: usize = 10;

/// The most characters of a button's text, and of a confirmation dialog's title and text.
const BUTTON_TEXT_MAX: usize = 75;
const CONFIRM_TITLE_MAX: usize = 100;
const CONFIRM_TEXT_MAX: usize = 300;

/// The blocks of `alert`'s message, and whether its table did not fit and is to be uploaded.
pub(super) fn blocks(alert: &Alert, inline_table_max_rows: usize) -> (Vec<SlackBlock>, bool) {
    let mut head = vec![section(&format!("*{}*", escape(&alert.title)))];
    if !alert.body.is_empty() {
        // a code block keeps tracebacks and tables aligned
        head.push(section(&format!("```{}```", truncate(&code(&alert.body), SECTION_MAX - 6))));
    }
    let actions = action_blocks(alert);
    let mut context = match alert.kind {
        AlertKind::Check => escape(&alert.task_name),
        _ => format!("task id {}", alert.task_id),
    };
    if let Some(link) = &alert.link {
        // a `|` or `>` in the URL would end it and let the rest be read as mrkdwn
        let link = escape(link).replace('|', "%7C");
        context.push_str(&format!(" · <{link}|Logs>"));
    }
    // the table gets the blocks the rest leaves, one of them at least (for the note)
    let table_room = MESSAGE_MAX_BLOCKS.saturating_sub(head.len() + actions.len() + 1).max(1);
    let mut upload_table = false;
    let mut blocks = head;
    if let Some(table) = &alert.table {
        match table_blocks(table, inline_table_max_rows, table_room) {
            Some(inline) => blocks.extend(inline),
            None => {
                upload_table = true;
                blocks.push(section(&format!(
                    "_The table ({} rows) is attached as a file in the thread: {}._",
                    table.len(),
                    if table.len() > inline_table_max_rows {
                        format!("more than {inline_table_max_rows} rows are not inlined")
                    } else {
                        "it does not fit in a message".to_owned()
                    }
                )));
            }
        }
    }
    blocks.extend(actions);
    blocks.push(context_block(context));
    (blocks, upload_table)
}

/// Whether the message for `alert` cuts some of its text.
pub(super) fn truncates(alert: &Alert) -> bool {
    alert.title.chars().count() + 2 > SECTION_MAX || alert.body.chars().count() + 6 > SECTION_MAX
}

/// The table as code-block sections, each within Slack's section limit; `None` when it is to
/// be uploaded instead (more than `max_rows` rows, or more than `max_blocks` blocks).
fn table_blocks(table: &Table, max_rows: usize, max_blocks: usize) -> Option<Vec<SlackBlock>> {
    if table.len() > max_rows {
        return None;
    }
    let mut chunks: Vec<String> = vec![String::new()];
    for line in table.lines() {
        let line = truncate(&code(&line), SECTION_MAX - 7).into_owned();
        let last = chunks.last_mut()?;
        if !last.is_empty() && last.chars().count() + line.chars().count() + 1 > SECTION_MAX - 6 {
            chunks.push(String::new());
        }
        let last = chunks.last_mut()?;
        if !last.is_empty() {
            last.push('\n');
        }
        last.push_str(&line);
    }
    if chunks.len() > max_blocks {
        return None;
    }
    Some(chunks.iter().map(|c| section(&format!("```{c}```"))).collect())
}

/// A row of buttons per service the alert is about (the first 10), and a note counting the
/// others. Buttons' texts are plain text: a name cannot mention anyone there.
fn action_blocks(alert: &Alert) -> Vec<SlackBlock> {
    let host = alert.host.as_deref();
    let mut blocks: Vec<SlackBlock> = Vec::new();
    let mut left_out = 0;
    for service in &alert.services {
        let value = ActionValue { service: service.clone(), host: host.map(str::to_owned) }.encode();
        if blocks.len() == SERVICES_MAX || ActionValue::decode(&value).is_none() {
            left_out += 1;
            continue;
        }
        let restart = SlackBlockButtonElement::new(plain_only(&format!("Restart {service}"), BUTTON_TEXT_MAX))
            .with_action_id(SlackActionId(actions::RESTART.to_owned()))
            .with_style(SlackBlockButtonStyle::Danger)
            .with_value(value.clone())
            .with_confirm(
                SlackBlockConfirmItem::new(
                    plain_only(&format!("Restart {service}?"), CONFIRM_TITLE_MAX),
                    SlackBlockText::Plain(SlackBlockPlainText::new(
                        truncate(&format!("Restart {service} on {}?", host.unwrap_or("its host")), CONFIRM_TEXT_MAX)
                            .into_owned(),
                    )),
                    "Restart".into(),
                    "Cancel".into(),
                )
                .with_style("danger".to_owned()),
            );
        let button = |action: &str, text: &str| {
            SlackBlockButtonElement::new(text.into())
                .with_action_id(SlackActionId(action.to_owned()))
                .with_value(value.clone())
        };
        let elements = vec![
            SlackActionBlockElement::Button(restart),
            SlackActionBlockElement::Button(button(actions::LOGS, "Logs")),
            SlackActionBlockElement::Button(button(actions::SILENCE, "Silence 1 h")),
        ];
        let block_id = SlackBlockId(format!("taskflows-{}-{}", alert.task_id, blocks.len()));
        blocks.push(SlackActionsBlock::new(elements).with_block_id(block_id).into());
    }
    if left_out > 0 {
        let s = if left_out == 1 { "" } else { "s" };
        blocks.push(context_block(format!("_{left_out} more service{s} not shown_")));
    }
    blocks
}

fn plain_only(text: &str, max: usize) -> slack_morphism::prelude::SlackBlockPlainTextOnly {
    truncate(text, max).into_owned().into()
}

fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(truncate(text, SECTION_MAX).into_owned())))
        .into()
}

fn context_block(text: String) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(text))]).into()
}
