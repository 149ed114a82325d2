use std::time::Duration;

use crate::alert::truncate;
use crate::error::AttemptError;
use crate::links::{LogLinks, encode};

#[test]
fn truncation_counts_characters() {
    assert_eq!(truncate("short", 10), "short");
    let long = "é".repeat(100);
    let cut = truncate(&long, 40);
    assert_eq!(cut.chars().count(), 40);
    assert!(cut.ends_with("… (82 more characters)"), "{cut}");
}

#[test]
fn error_kinds() {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>, type_name| AttemptError::Failed { type_name, source: e };
    assert_eq!(failed("x".into(), "std::io::error::Error").kind(), "Error");
    assert_eq!(failed("x".into(), "alloc::boxed::Box<dyn core::error::Error>").kind(), "Box");
    assert_eq!(failed("x".into(), "my_app::SyncError").kind(), "SyncError");
    assert_eq!(AttemptError::TimedOut(Duration::from_secs(1)).kind(), "Timeout");
    assert_eq!(AttemptError::Panicked("boom".into()).kind(), "Panic");
}

#[test]
fn percent_encoding() {
    assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
    assert_eq!(encode("{x=\"é\"} |"), "%7Bx%3D%22%C3%A9%22%7D%20%7C");
}

#[test]
fn log_links_from_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    };
    let no_unit = |l: LogLinks| LogLinks { unit: None, ..l };
    assert_eq!(no_unit(LogLinks::from_vars(vars(&[]))), LogLinks::default());
    assert_eq!(
        no_unit(LogLinks::from_vars(vars(&[("TASKFLOWS_GRAFANA", "https://g"), ("TASKFLOWS_LOKI_URL", " ")]))),
        LogLinks { grafana: Some("https://g".into()), loki: None, unit: None }
    );
    // a user and password in TASKFLOWS_LOKI_URL are for the logs' push, never in a link
    for (url, expected) in [
        ("https://me:secret@loki:3100/", "https://loki:3100/"),
        ("http://me:se/cret@loki", "http://loki"),
        ("http://loki:3100", "http://loki:3100"),
    ] {
        let pairs = [("TASKFLOWS_LOKI_URL", url)];
        let links = LogLinks::from_vars(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()));
        assert_eq!(links.loki.as_deref(), Some(expected), "{url}");
    }
    let links = LogLinks { grafana: None, loki: Some("http://loki:3100/".into()), unit: None };
    let from = jiff::Timestamp::from_second(1_700_000_000).unwrap();
    let to = jiff::Timestamp::from_second(1_700_000_010).unwrap();
    let id = crate::task::TaskId::for_tests(7);
    assert_eq!(
        links.explore("a\"b", id, from, to).unwrap(),
        format!(
            "http://loki:3100/loki/api/v1/query_range?query=%7Bjob%3D%22taskflows%22%2C%20task%3D%22a%5C%22b%22%7D%20%7C%3D%20%22{}-7%22\
             &start=1699999940000000000&end=1700000070000000000",
            std::process::id()
        )
    );
    assert_eq!(LogLinks::default().explore("a", id, from, to), None);
}

#[cfg(feature = "slack")]
#[test]
fn slack_from_variables() {
    let err = crate::Slack::from_vars("#ops", |_| None).unwrap_err();
    assert_eq!(err.to_string(), "environment variable SLACK_BOT_TOKEN is not set");
    let slack = crate::Slack::from_vars("#ops", |name| match name {
        "SLACK_BOT_TOKEN" => Some("xoxb-1".into()),
        "SLACK_ATTACHMENT_MAX_SIZE_MB" => Some("3".into()),
        "SLACK_INLINE_TABLES_MAX_ROWS" => Some("50".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(slack.attachment_max_bytes(), 3 * 1024 * 1024);
    assert_eq!(slack.inline_table_max(), 50);
    let slack = crate::Slack::from_vars("#ops", |name| (name == "SLACK_BOT_TOKEN").then(|| "xoxb-1".into())).unwrap();
    assert_eq!(slack.attachment_max_bytes(), 20 * 1024 * 1024);
    assert_eq!(slack.inline_table_max(), 200);
}

#[cfg(feature = "slack")]
#[test]
fn uploads_fit_the_limit_at_a_character_boundary() {
    use crate::slack::fit;
    assert_eq!(fit("short".into(), 100), b"short");
    let text = "é".repeat(1000); // 2000 bytes
    let out = String::from_utf8(fit(text, 500)).expect("cut at a character boundary");
    assert!(out.len() <= 500, "{}", out.len());
    assert!(out.ends_with(" of 2000 bytes shown (SLACK_ATTACHMENT_MAX_SIZE_MB)\n"), "{out}");
    // a limit smaller than the note: only text, still within the limit
    assert_eq!(fit("abcdef".into(), 3), b"abc");
}

#[test]
fn tables_render_fixed_width_and_html() {
    let mut t = crate::Table::new(["A", "LONGER"]);
    t.row(["wide cell", "x"]).row(["line\nbreak", "y", "dropped"]).row(["z"]);
    assert_eq!(t.to_text(), "A           LONGER\n----------  ------\nwide cell   x\nline break  y\nz\n");
    assert_eq!(t.len(), 3);
    assert!(t.to_html().contains("<tr><td>z</td><td></td></tr>"), "{}", t.to_html());
}

#[test]
fn journal_native_format() {
    use crate::journal::encode;
    assert_eq!(encode(&[("MESSAGE", "done"), ("PRIORITY", "6")]), b"MESSAGE=done\nPRIORITY=6\n");
    let mut multi = b"TASKFLOWS_TASK_ERROR\n".to_vec();
    multi.extend_from_slice(&5u64.to_le_bytes());
    multi.extend_from_slice(b"a\nb c\n");
    assert_eq!(encode(&[("TASKFLOWS_TASK_ERROR", "a\nb c")]), multi);
}

#[test]
fn unit_from_cgroup() {
    use crate::journal::unit_of_cgroup;
    let unit = |s: &str, user: bool| Some((s.to_owned(), user));
    assert_eq!(unit_of_cgroup("0::/system.slice/taskflows-x.service\n"), unit("taskflows-x.service", false));
    assert_eq!(
        unit_of_cgroup("0::/user.slice/user-0.slice/user@0.service/app.slice/taskflows-y.service\n"),
        unit("taskflows-y.service", true)
    );
    assert_eq!(unit_of_cgroup("0::/user.slice/user-0.slice/session-1.scope\n"), None);
    assert_eq!(unit_of_cgroup("12:pids:/\n1:name=systemd:/system.slice/a.service\n0::/\n"), unit("a.service", false));
}

#[test]
fn service_from_cgroup() {
    use crate::origin::service_of_cgroup;
    let check =
        |cgroup: &str, expected: Option<&str>| assert_eq!(service_of_cgroup(cgroup).as_deref(), expected, "{cgroup:?}");
    check("0::/system.slice/taskflows-backup-db.service\n", Some("backup-db"));
    check("0::/user.slice/user-1000.slice/user@1000.service/app.slice/taskflows-sync.v2.service\n", Some("sync.v2"));
    check("12:pids:/\n1:name=systemd:/system.slice/taskflows-old.service\n0::/\n", Some("old"));
    // not a taskflows unit, or not a unit at all
    check("0::/system.slice/nginx.service\n", None);
    check("0::/user.slice/user-0.slice/session-1.scope\n", None);
    check("0::/\n", None);
    check("", None);
    // a unit name taskflows would never have written
    check("0::/system.slice/taskflows-.service\n", None);
    check("0::/system.slice/taskflows-a@b.service\n", None);
    check("0::/system.slice/taskflows-x.service/sub\n", None);
}

mod notify {
    use std::ffi::OsStr;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::time::Duration;

    use crate::notify::{Address, Notifier, NotifyEnv, message, while_running};

    fn check(vars: [Option<&str>; 3], expected: Result<Option<(Address, Option<u64>)>, &str>) {
        let [socket, usec, pid] = vars.map(|v| v.map(OsStr::new));
        let got = NotifyEnv::parse(socket, usec, pid, 4242);
        let want = expected
            .map(|e| e.map(|(address, ms)| NotifyEnv { address, watchdog: ms.map(Duration::from_millis) }))
            .map_err(str::to_owned);
        assert_eq!(got, want, "{vars:?}");
    }

    fn path(p: &str) -> Address {
        Address::Path(p.into())
    }

    #[test]
    fn environment() {
        check([None, Some("2000000"), None], Ok(None));
        check([Some(""), None, None], Ok(None));
        check([Some("/run/systemd/notify"), None, None], Ok(Some((path("/run/systemd/notify"), None))));
        check([Some("@sd-notify/1"), None, None], Ok(Some((Address::Abstract(b"sd-notify/1".to_vec()), None))));
        check([Some("/n"), Some("2000000"), None], Ok(Some((path("/n"), Some(2000)))));
        check([Some("/n"), Some("2000000"), Some("4242")], Ok(Some((path("/n"), Some(2000)))));
        // meant for another process (a parent that notifies for itself), zero or garbage: no watchdog
        check([Some("/n"), Some("2000000"), Some("17")], Ok(Some((path("/n"), None))));
        check([Some("/n"), Some("2000000"), Some("x")], Ok(Some((path("/n"), None))));
        check([Some("/n"), Some("0"), None], Ok(Some((path("/n"), None))));
        check([Some("/n"), Some("2s"), None], Ok(Some((path("/n"), None))));
        check([Some("@"), None, None], Err("NOTIFY_SOCKET=@: not a socket path or an @abstract name"));
        check(
            [Some("vsock:2:1234"), None, None],
            Err("NOTIFY_SOCKET=vsock:2:1234: not a socket path or an @abstract name"),
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            message(&[("READY", "1"), ("STATUS", "running task a=b")]).unwrap(),
            "READY=1\nSTATUS=running task a=b\n"
        );
        assert_eq!(message(&[("WATCHDOG", "1")]).unwrap(), "WATCHDOG=1\n");
        for bad in [("", "1"), ("A=B", "1"), ("A\nB", "1"), ("STATUS", "two\nlines")] {
            assert!(message(&[bad]).is_err(), "{bad:?}");
        }
    }

    fn received(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn ready_then_the_watchdog_is_fed_while_the_task_runs() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("notify");
        let listener = UnixDatagram::bind(&at).unwrap();
        let env = NotifyEnv { address: Address::Path(at), watchdog: Some(Duration::from_secs(2)) };
        let notifier = Notifier::connect(&env).unwrap();
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(1)));
        let value = while_running(Some(notifier), "sync", async {
            tokio::time::sleep(Duration::from_millis(3500)).await;
            7
        })
        .await;
        assert_eq!(value, 7);
        // at 0 s, 1 s, 2 s and 3 s
        let mut want = vec!["READY=1\nSTATUS=running task sync\n".to_owned()];
        want.extend(std::iter::repeat_n("WATCHDOG=1\n".to_owned(), 4));
        assert_eq!(received(&listener), want);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn abstract_sockets_and_no_watchdog() {
        let name = format!("taskflows-test-{}", std::process::id());
        let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let env = NotifyEnv { address: Address::Abstract(name.into_bytes()), watchdog: None };
        let notifier = Notifier::connect(&env).unwrap();
        assert_eq!(notifier.watchdog_interval(), None);
        assert_eq!(while_running(Some(notifier), "once", async { 1 }).await, 1);
        assert_eq!(received(&listener), ["READY=1\nSTATUS=running task once\n"]);
        assert_eq!(while_running(None, "alone", async { 2 }).await, 2);
    }
}
