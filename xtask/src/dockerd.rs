//! A private Docker engine for the real-Docker tests: `dockerd` on the host with its own
//! socket (under the target dir, which the sandbox shares), data root and exec root, no bridge
//! and no iptables rules, so it leaves the host's network and any other engine alone. A busybox
//! image is built locally from busybox-static (no registry is reachable) and imported through
//! the Engine API; the tests get `DOCKER_HOST` and `TF_TEST_DOCKER_IMAGE`.
//!
//! xtask knows its dockerd by the PID it spawned; teardown (always, also from the Ctrl-C
//! handler) sends it SIGTERM (it stops its containers), then SIGKILL after 20 s, and removes
//! its folders. A dockerd left by an xtask killed with SIGKILL is stopped by the next run.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proc;

/// The image the tests run, imported at start.
pub(crate) const IMAGE: &str = "tf-test-busybox:latest";

/// What the Ctrl-C handler must stop: the dockerd PID and the folders to remove.
static ACTIVE: Mutex<Option<(u32, Vec<PathBuf>)>> = Mutex::new(None);

pub(crate) struct Dockerd {
    child: Option<Child>,
    socket: PathBuf,
    folders: Vec<PathBuf>,
    log: PathBuf,
}

impl Dockerd {
    /// Start dockerd with its state under `state_dir` and wait until it answers; import the
    /// test image.
    pub(crate) fn start(state_dir: &Path) -> Result<Dockerd> {
        let started = Instant::now();
        check_installed()?;
        recover_stale(state_dir);
        let name = format!("dockerd-{}", std::process::id());
        let dir = state_dir.join(&name);
        // The exec root holds containerd's sockets, whose paths must stay short.
        let exec_root = PathBuf::from(format!("/run/tf-xtask-{name}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let socket = dir.join("docker.sock");
        let log = dir.join("dockerd.log");
        let mut cmd = Command::new(dockerd_path());
        cmd.arg(format!("--host=unix://{}", socket.display()))
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", exec_root.display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log)?)
            .stderr(fs::File::create(&log)?)
            // Out of the terminal's foreground group: Ctrl-C reaches xtask, which stops it.
            .process_group(0);
        let child = cmd.spawn().context("failed to start dockerd")?;
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some((child.id(), vec![dir.clone(), exec_root.clone()]));
        let mut dockerd = Dockerd { child: Some(child), socket, folders: vec![dir.clone(), exec_root], log };
        dockerd.wait_ready(Duration::from_secs(60))?;
        dockerd.import_busybox(&dir.join("rootfs"))?;
        eprintln!("xtask: dockerd ready at {} in {:.1}s", dockerd.host(), started.elapsed().as_secs_f64());
        Ok(dockerd)
    }

    /// `unix://SOCKET`, for `DOCKER_HOST`.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if request(&self.socket, "GET", "/_ping", &[]).is_ok_and(|reply| reply.starts_with("HTTP/1.1 200")) {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!("dockerd exited with {status} while starting; see {}", self.log.display());
            }
            if Instant::now() >= deadline {
                bail!("dockerd did not answer within {timeout:?}; see {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A root file system of busybox-static and its applets, tarred and imported as [`IMAGE`].
    fn import_busybox(&self, rootfs: &Path) -> Result<()> {
        let bin = rootfs.join("bin");
        fs::create_dir_all(&bin)?;
        fs::copy("/bin/busybox", bin.join("busybox")).context("failed to copy /bin/busybox")?;
        let list = Command::new("/bin/busybox").arg("--list").output().context("busybox --list")?;
        for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox" && !a.is_empty()) {
            std::os::unix::fs::symlink("busybox", bin.join(applet))?;
        }
        for d in ["tmp", "proc", "sys", "dev", "etc"] {
            fs::create_dir_all(rootfs.join(d))?;
        }
        let tar = Command::new("tar").arg("-C").arg(rootfs).args(["-cf", "-", "."]).output().context("tar")?;
        if !tar.status.success() {
            bail!("tar failed: {}", String::from_utf8_lossy(&tar.stderr));
        }
        let (repo, tag) = IMAGE.split_once(':').expect("IMAGE has a tag");
        let path = format!("/v1.41/images/create?fromSrc=-&repo={repo}&tag={tag}");
        let reply = request(&self.socket, "POST", &path, &tar.stdout)?;
        if !reply.starts_with("HTTP/1.1 200") || reply.contains("\"error") {
            bail!("importing {IMAGE} failed: {reply}");
        }
        Ok(())
    }

    /// Stop dockerd (SIGTERM, SIGKILL after 20 s) and remove its folders.
    pub(crate) fn stop(mut self) -> Result<()> {
        let child = self.child.take();
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        stop(child, &self.folders)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if let Err(err) = stop(self.child.take(), &self.folders) {
                eprintln!("xtask: error: {err:#}");
            }
        }
    }
}

/// From the Ctrl-C handler: stop the running dockerd, if any.
pub(crate) fn teardown_active() {
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((pid, folders)) = active {
        proc::kill(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while proc::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        proc::kill(pid, "KILL");
        remove_folders(&folders);
    }
}

fn stop(child: Option<Child>, folders: &[PathBuf]) -> Result<()> {
    if let Some(mut child) = child {
        proc::kill(child.id(), "TERM");
        if proc::wait_timeout(&mut child, Duration::from_secs(20))?.is_none() {
            let _ = child.kill();
            child.wait()?;
            eprintln!("xtask: dockerd did not stop within 20s; killed it");
        }
    }
    remove_folders(folders);
    if let Some(left) = folders.iter().find(|f| f.exists()) {
        bail!("dockerd teardown left {}", left.display());
    }
    Ok(())
}

/// A dockerd left by an xtask killed with SIGKILL: its folder names a dead owner PID. Stop that
/// dockerd (only if its command line still names the folder) and remove its folders.
fn recover_stale(state_dir: &Path) {
    let Ok(entries) = fs::read_dir(state_dir) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(owner) = dir.file_name().and_then(|n| n.to_str()?.strip_prefix("dockerd-")?.parse::<u32>().ok())
        else {
            continue;
        };
        if proc::alive(owner) {
            continue;
        }
        let pid = fs::read_to_string(dir.join("dockerd.pid")).ok().and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
                eprintln!("xtask: stopping the dockerd (PID {pid}) of an earlier run");
                proc::kill(pid, "TERM");
                let deadline = Instant::now() + Duration::from_secs(20);
                while proc::alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                proc::kill(pid, "KILL");
            }
        }
        remove_folders(&[dir, PathBuf::from(format!("/run/tf-xtask-dockerd-{owner}"))]);
    }
}

fn remove_folders(folders: &[PathBuf]) {
    for f in folders {
        let _ = fs::remove_dir_all(f);
    }
}

fn dockerd_path() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("dockerd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("dockerd"))
}

fn check_installed() -> Result<()> {
    let busybox_static = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "busybox-static"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"));
    if !dockerd_path().is_file() || !busybox_static || !Path::new("/bin/busybox").is_file() {
        bail!(
            "the Docker tests need dockerd and a static busybox; install them with \
             `apt-get install -y docker.io busybox-static`, or run `cargo xtask test`, which installs \
             what the tests need (see docs/testing.md)"
        );
    }
    Ok(())
}

/// One HTTP/1.1 request over the engine's socket; the whole reply as text.
fn request(socket: &Path, method: &str, path: &str, body: &[u8]) -> Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let content_type = if body.is_empty() { "" } else { "Content-Type: application/x-tar\r\n" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
