//! What `tf` shows on stderr while an operation works ([`Progress`]): indicatif's bars and
//! spinners on a terminal, plain lines otherwise (a log, a pipe), nothing but warnings with `-q`.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use taskflows_api::Progress;

use crate::output::terminal_safe;

/// The bars being drawn: the jobs of a bulk operation, one spinner per run being waited for.
#[derive(Default)]
struct Bars {
    multi: Option<MultiProgress>,
    jobs: Option<ProgressBar>,
    runs: HashMap<String, ProgressBar>,
}

static BARS: Mutex<Option<Bars>> = Mutex::new(None);

/// Progress on stderr: the reporter `tf` hands the operations layer.
pub(crate) fn report(event: Progress) {
    if crate::output::quiet() && !matches!(event, Progress::Warning(_)) {
        return;
    }
    let terminal = std::io::stderr().is_terminal();
    let mut guard = BARS.lock().unwrap_or_else(|e| e.into_inner());
    let bars = guard.get_or_insert_with(Bars::default);
    let multi = bars.multi.get_or_insert_with(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    // A line above the bars (or, without a terminal, just a line).
    let line = |text: String| {
        if terminal {
            let _ = multi.println(text);
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    };
    match event {
        Progress::Jobs { done, total } if total > 64 && terminal => {
            let bar = bars.jobs.get_or_insert_with(|| {
                let style = ProgressStyle::with_template("[{bar:30}] {pos}/{len} jobs").expect("a valid template");
                multi.add(ProgressBar::new(total as u64).with_style(style.progress_chars("#> ")))
            });
            bar.set_position(done as u64);
            if done >= total {
                bar.finish();
                bars.jobs = None;
            }
        }
        Progress::Jobs { .. } => {}
        Progress::WaitingForLock { data_dir } => {
            line(format!("waiting for another tf command to finish changing {}", data_dir.display()))
        }
        Progress::Building { service, tag, path } => line(format!("building image {tag} for {service} from {path}")),
        Progress::BuildOutput(text) => line(format!("  {}", terminal_safe(&text))),
        Progress::Warning(w) => line(format!("warning: {}", terminal_safe(&w))),
        Progress::Run { service, state, ended } if terminal => {
            let bar = bars.runs.entry(service.clone()).or_insert_with(|| {
                let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} {elapsed:.dim}")
                    .expect("a valid template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
                let bar = multi
                    .add(ProgressBar::new_spinner().with_style(style).with_prefix(terminal_safe(&service).to_string()));
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
            if ended {
                bar.finish_with_message(state);
            } else {
                bar.set_message(state);
            }
        }
        Progress::Run { service, state, .. } => line(format!("{}: {state}", terminal_safe(&service))),
        _ => {}
    }
}
