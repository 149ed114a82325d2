//! Nothing hangs: a bus that stops answering is an error naming systemd and the bus, within the
//! bounds. Plain tests (no systemd needed): a private `dbus-daemon` (package `dbus`) is stopped
//! with SIGSTOP, so it accepts connections but never answers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use taskflows_core::Scope;
use taskflows_systemd::Systemd;

/// A private session bus, continued and killed when dropped.
struct Bus {
    daemon: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}", dir.path().join("bus").display());
        let daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", &format!("--address={address}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs (apt-get install dbus)");
        let bus = Bus { daemon, address, _dir: dir };
        let socket = bus.address.trim_start_matches("unix:path=").to_owned();
        let start = Instant::now();
        while !std::path::Path::new(&socket).exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "dbus-daemon made no socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        bus
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.daemon.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.daemon.id().to_string()]).status();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[tokio::test]
async fn a_stopped_bus_is_an_error_naming_systemd_and_the_bus() {
    let bus = Bus::start();
    bus.signal("-STOP");
    let start = Instant::now();
    let error = match Systemd::connect_to(Scope::User, &bus.address).await {
        Ok(_) => panic!("connected to a stopped bus"),
        Err(e) => e.to_string(),
    };
    let took = start.elapsed();
    eprintln!("connect_to a stopped bus: {took:.1?}: {error}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(error.starts_with("systemd (session bus unix:path=") && error.contains(&bus.address), "{error}");
    assert!(error.contains("did not answer within 25s"), "{error}");
}

/// What `Systemd::reload` relies on: a proxy's plain call ends at the connection's method
/// timeout, `call_with_flags` does not (only the caller's own bound ends it).
#[tokio::test]
async fn a_long_call_is_bounded_by_its_own_limit_not_the_method_timeout() {
    let bus = Bus::start();
    let conn = zbus::conn::Builder::address(bus.address.as_str())
        .method_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let proxy = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    bus.signal("-STOP");

    let start = Instant::now();
    let plain = proxy.get_id().await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?} {plain:?}");
    let Err(zbus::fdo::Error::ZBus(zbus::Error::InputOutput(e))) = plain else { panic!("{plain:?}") };
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);

    let start = Instant::now();
    let long = proxy.inner().call_with_flags::<_, _, String>("GetId", zbus::proxy::MethodFlags::empty(), &());
    let long = tokio::time::timeout(Duration::from_secs(2), long).await;
    let took = start.elapsed();
    assert!(long.is_err(), "waited past the method timeout for the caller's bound: {long:?}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
}

/// A bus that stops answering after the manager was reached: status and create are errors
/// within the call timeout.
#[tokio::test]
async fn calls_on_a_stopped_bus_are_errors() {
    let bus = Bus::start();
    // A stand-in for systemd that answers Subscribe, the one call connecting makes.
    let manager = zbus::conn::Builder::address(bus.address.as_str()).build().await.unwrap();
    manager.request_name("org.freedesktop.systemd1").await.unwrap();
    let mut calls = zbus::MessageStream::from(&manager);
    let answering = manager.clone();
    tokio::spawn(async move {
        use futures_util::StreamExt as _;
        while let Some(Ok(msg)) = calls.next().await {
            let header = msg.header();
            if header.message_type() == zbus::message::Type::MethodCall
                && header.member().is_some_and(|m| m.as_str() == "Subscribe")
            {
                let _ = answering.reply(&header, &()).await;
            }
        }
    });
    let units = tempfile::tempdir().unwrap();
    let systemd =
        Systemd::connect_to(Scope::User, &bus.address).await.expect("the stand-in answers").with_unit_dir(units.path());
    bus.signal("-STOP");

    let start = Instant::now();
    let name = taskflows_core::ServiceName::new("stall").unwrap();
    let specs = crate::specs("[[service]]\nname = \"stall\"\nstart_command = \"/bin/true\"\n");
    let ctx = taskflows_core::RenderContext::new(Scope::User);
    let (status, create) = tokio::join!(systemd.status(std::slice::from_ref(&name)), systemd.create(&specs, &ctx));
    let took = start.elapsed();
    let status = status.expect_err("status on a stopped bus fails").to_string();
    let create = create.expect_err("create on a stopped bus fails").to_string();
    eprintln!("status and create on a stopped bus: {took:.1?}:\n  {status}\n  {create}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    for error in [status, create] {
        assert!(error.starts_with("systemd ") && error.contains("no answer within 25s"), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
}
