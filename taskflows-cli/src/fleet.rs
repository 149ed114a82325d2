//! `tf … -s SERVER [-s SERVER …]`: the same command on API servers, asked in parallel. Tables
//! get a HOST column, lines a host prefix, JSON a `hosts` list of answers and errors. A server
//! that fails is reported on stderr without hiding the others, and the exit code says so (the
//! first failure's code).

use std::process::ExitCode;

use futures_util::StreamExt as _;
use taskflows_api::remote::{Remote, ServerBook};
use taskflows_api::{MonitorRequest, Operations as _};

use crate::output::{Answer, Style, Table, View, terminal_safe};
use crate::{Command, Failure, exit, print};

/// The servers named on the command line, in order.
pub(crate) fn remotes(names: &[String]) -> Result<Vec<Remote>, Failure> {
    let book = ServerBook::load(&ServerBook::default_path())?;
    let mut remotes: Vec<Remote> = Vec::new();
    for name in names {
        if remotes.iter().any(|r| r.name() == name) {
            continue;
        }
        let (name, entry) = book.resolve(name)?;
        remotes.push(Remote::new(&name, &entry)?);
    }
    Ok(remotes)
}

pub(crate) async fn run(servers: &[String], command: Command) -> Result<ExitCode, Failure> {
    let remotes = remotes(servers)?;
    let style = Style::detect();
    let json = command.json();
    match &command {
        Command::Logs(args) if args.follow => {
            return follow(&remotes, &args.name, &args.query(), args.json, &style).await;
        }
        Command::Calendar(_)
        | Command::Schema { .. }
        | Command::Completions { .. }
        | Command::Container(_)
        | Command::ManPages { .. }
        | Command::Metrics { .. }
        | Command::Grafana { .. }
        | Command::Observability { .. } => {
            return Err(Failure::new(exit::USAGE, "this command runs on this host only; drop -s"));
        }
        Command::Api { .. } | Command::Server { .. } => {
            return Err(Failure::new(exit::USAGE, "`tf api` and `tf server` act on this host; drop -s"));
        }
        _ => {}
    }
    let asked = remotes.iter().map(|r| ask(r, &command, &style));
    let answers: Vec<Result<Answer, Failure>> = futures_util::future::join_all(asked).await;
    let named: Vec<(&str, Result<Answer, Failure>)> = remotes.iter().map(Remote::name).zip(answers).collect();
    show(named, json)
}

/// One server's answer to the command.
async fn ask(remote: &Remote, command: &Command, style: &Style) -> Result<Answer, Failure> {
    match command {
        Command::Create(args) => crate::create::answer(remote, args).await,
        Command::Env(env) => crate::env::answer(remote, env).await,
        Command::Check { target, wait, .. } => {
            let target = crate::services::check_target(target)?;
            let wait = wait.map(|d| std::time::Duration::from_micros(d.as_micros()));
            Ok(crate::services::check_answer(&remote.check(&target, wait).await?))
        }
        Command::Monitor { command } => crate::monitor::remote_check(remote, command).await,
        Command::Run { name, timeout, command, .. } => {
            let request = crate::services::run_request(name.as_deref(), *timeout, command.clone())?;
            Ok(crate::services::run_answer(&remote.run(&request).await?, style))
        }
        command => crate::services::answer(remote, command, style).await,
    }
}

/// Print every server's answer; errors on stderr, each naming its server.
fn show(answers: Vec<(&str, Result<Answer, Failure>)>, json: bool) -> Result<ExitCode, Failure> {
    let mut code: u8 = 0;
    let mut fail = |c: u8| {
        if code == 0 {
            code = c;
        }
    };
    if json {
        print(hosts_json(&answers).as_bytes())?;
    } else {
        let mut tables: Vec<(String, Table)> = Vec::new();
        let mut text = String::new();
        for (host, answer) in answers.iter().filter_map(|(h, a)| Some((h, a.as_ref().ok()?))) {
            match &answer.view {
                View::Table(t) => tables.push((host.to_string(), t.clone())),
                View::Text(lines) => {
                    for line in lines.lines() {
                        text.push_str(&format!("{host}: {line}\n"));
                    }
                }
            }
        }
        if let Some(t) = Table::with_hosts(tables) {
            print(t.render(&Style::detect()).as_bytes())?;
        }
        print(text.as_bytes())?;
    }
    for (host, answer) in &answers {
        match answer {
            Ok(a) if a.exit_code() != 0 => fail(a.exit_code()),
            Ok(_) => {}
            Err(f) => {
                fail(f.code());
                eprintln!("error: {host}: {}", terminal_safe(f.message()));
                if let Some(hint) = f.hint() {
                    eprintln!("hint: {}", terminal_safe(hint));
                }
            }
        }
    }
    Ok(ExitCode::from(code))
}

/// `{"version": 1, "hosts": [{"host", "answer"} | {"host", "error": {"message", "exit_code"}}]}`,
/// pretty, each answer's fields in the contract's order.
fn hosts_json(answers: &[(&str, Result<Answer, Failure>)]) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string encodes");
    let mut entries = Vec::new();
    for (host, answer) in answers {
        let body = match answer {
            Ok(a) => format!("\"answer\": {}", a.json.replace('\n', "\n      ")),
            Err(f) => format!(
                "\"error\": {{\n        \"message\": {},\n        \"exit_code\": {}\n      }}",
                quote(f.message()),
                f.code()
            ),
        };
        entries.push(format!("    {{\n      \"host\": {},\n      {body}\n    }}", quote(host)));
    }
    format!("{{\n  \"version\": {},\n  \"hosts\": [\n{}\n  ]\n}}\n", taskflows_api::VERSION, entries.join(",\n"))
}

/// `tf logs -f NAME -s …`: every server's new lines as they come, each prefixed with its host.
async fn follow(
    remotes: &[Remote],
    name: &str,
    query: &taskflows_api::LogQuery,
    json: bool,
    style: &Style,
) -> Result<ExitCode, Failure> {
    let mut streams = Vec::new();
    let mut code = 0;
    for remote in remotes {
        match remote.follow(name, query).await {
            Ok(s) => {
                let host = remote.name().to_owned();
                streams.push(s.map(move |l| (host.clone(), l)).boxed());
            }
            Err(e) => {
                let f = Failure::from(e);
                eprintln!("error: {}: {}", remote.name(), terminal_safe(f.message()));
                code = f.code();
            }
        }
    }
    let mut merged = futures_util::stream::select_all(streams);
    while let Some((host, line)) = merged.next().await {
        match line {
            Ok(l) => {
                let text = crate::services::log_line(&l, Some(&host), json, style);
                print(text.as_bytes())?;
            }
            Err(e) => {
                eprintln!("error: {host}: {}", terminal_safe(&e.to_string()));
                code = e.exit_code();
            }
        }
    }
    Ok(ExitCode::from(code))
}

/// The monitor's check on a server: no alert destinations (the server's own monitor alerts).
pub(crate) fn monitor_request(pattern: Option<String>, grace: std::time::Duration) -> MonitorRequest {
    MonitorRequest { pattern, grace, destinations: Vec::new() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_json_is_valid_and_keeps_the_contracts_order() {
        let answer = crate::output::Answer::text(
            &taskflows_api::ServiceList { version: 1, services: Vec::new() },
            String::new(),
        );
        let failure = crate::Failure::new(4, "no service matches \"x\"");
        let text = super::hosts_json(&[("a", Ok(answer)), ("b", Err(failure))]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["hosts"][0]["answer"]["services"], serde_json::json!([]));
        assert_eq!(value["hosts"][1]["error"]["exit_code"], 4);
        assert!(text.find("\"version\": 1,\n        \"services\"").is_some(), "{text}");
    }
}
