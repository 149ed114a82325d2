//! The path policy: what a service may name is refused by field, with exit code 3, before
//! anything is written. Each test builds its own roots in a temp folder and injects the policy
//! (no dependence on `$HOME`, `/etc/taskflows` or the process's environment).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use taskflows_api::paths::{PathPolicy, PolicySources};
use taskflows_api::{CreateRequest, Error, Local, Operations, SourceFile, exit};
use taskflows_core::{AbsPath, RenderContext, Scope};

/// A temp folder holding an allowed root (`allowed/`), the data folder (`data/`) and a folder
/// outside every root (`outside/`).
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let host = Host { dir: tempfile::tempdir().unwrap() };
        for d in ["allowed", "data", "outside"] {
            std::fs::create_dir(host.dir.path().join(d)).unwrap();
        }
        host
    }
    fn allowed(&self) -> PathBuf {
        self.dir.path().join("allowed")
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn sources(&self, config: Option<&str>) -> PolicySources {
        let config_file = self.dir.path().join("config.toml");
        if let Some(text) = config {
            std::fs::write(&config_file, text).unwrap();
        }
        PolicySources { home: None, config_file: Some(config_file), allowed_paths: Some(self.allowed().into()) }
    }
    fn local(&self, config: Option<&str>) -> Local {
        let mut ctx = RenderContext::new(Scope::User);
        ctx.data_dir = AbsPath::new(self.data().display().to_string()).unwrap();
        let policy = PathPolicy::load(Scope::User, &self.data(), &self.sources(config)).unwrap();
        Local::new(ctx).with_path_policy(policy)
    }
    /// The error creating `service` (a `[[service]]` table's lines) gives; nothing may be
    /// written but the lock.
    async fn refused(&self, service: &str) -> Error {
        let err = self.create(service).await.expect_err("refused");
        let left: Vec<String> =
            std::fs::read_dir(self.data()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(left.iter().all(|f| f == ".lock"), "nothing written: {left:?}");
        err
    }
    async fn create(&self, service: &str) -> Result<(), Error> {
        let content = format!("version = 1\n[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\n{service}\n");
        let request =
            CreateRequest { files: vec![SourceFile { label: "jobs.toml".into(), content }], ..Default::default() };
        self.local(None).create(&request).await.map(|_| ())
    }
}

/// `err` is invalid input (exit 3) whose message starts with `field` and contains `what`.
fn check(err: &Error, field: &str, what: &str) {
    let message = err.to_string();
    assert_eq!(err.exit_code(), exit::INVALID, "{message}");
    assert!(message.starts_with(&format!("{field}: ")), "{message}");
    assert!(message.contains(what), "{message}");
}

fn env_file(path: &Path) -> String {
    format!("env_file = \"{}\"", path.display())
}

fn volume(host: &str) -> String {
    format!(
        "environment = {{ docker = {{ image = \"busybox\", volumes = [{{ host_path = \"{host}\", container_path = \"/x\" }}] }} }}"
    )
}

#[tokio::test]
async fn env_files_outside_the_roots_or_through_an_escaping_link_are_refused() {
    let host = Host::new();
    std::fs::write(host.outside().join("app.env"), "A=1\n").unwrap();
    let err = host.refused(&env_file(&host.outside().join("app.env"))).await;
    check(&err, "service[web].env_file", "is outside the allowed folders");
    assert!(err.hint().unwrap().contains(&host.allowed().display().to_string()), "{:?}", err.hint());

    // A link inside the root that leads out of it is named.
    let link = host.allowed().join("conf");
    std::os::unix::fs::symlink(host.outside(), &link).unwrap();
    let err = host.refused(&env_file(&link.join("app.env"))).await;
    check(
        &err,
        "service[web].env_file",
        &format!("{} is a symbolic link to {}", link.display(), host.outside().display()),
    );
    // A relative link that climbs out, as the last component.
    let relative = host.allowed().join("app.env");
    std::os::unix::fs::symlink("../outside/app.env", &relative).unwrap();
    let err = host.refused(&env_file(&relative)).await;
    check(&err, "service[web].env_file", &format!("{} is a symbolic link to ../outside/app.env", relative.display()));

    // `..` never gets as far as the policy: the model refuses it.
    let err = host.refused(&format!("env_file = \"{}/../outside/app.env\"", host.allowed().display())).await;
    assert_eq!(err.exit_code(), exit::INVALID);
    assert!(err.to_string().contains("must not contain '..' components"), "{err}");
}

#[tokio::test]
async fn env_files_that_are_not_small_regular_files_are_refused_without_reading_them() {
    let host = Host::new();
    let fifo = host.allowed().join("fifo.env");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = Instant::now();
    let err = host.refused(&env_file(&fifo)).await;
    let took = started.elapsed();
    check(&err, "service[web].env_file", "is a named pipe (FIFO); an env file must be a regular file");
    assert!(took < Duration::from_secs(2), "a FIFO is refused at once, took {took:?}");
    println!("a FIFO env file was refused in {took:?}");

    let err = host.refused(&env_file(&host.allowed())).await;
    check(&err, "service[web].env_file", "is a folder");

    let big = host.allowed().join("big.env");
    std::fs::write(&big, "A=1\n".repeat(2 << 20 >> 2)).unwrap();
    let err = host.refused(&env_file(&big)).await;
    check(&err, "service[web].env_file", "is 2097152 bytes; an env file may be at most 1 MiB");

    let err = host.refused(&env_file(&host.allowed().join("missing.env"))).await;
    check(&err, "service[web].env_file", "does not exist");
}

fn credential(path: &Path) -> String {
    format!("credentials = {{ db_password = \"{}\" }}", path.display())
}

#[tokio::test]
async fn credentials_are_private_small_regular_files_under_the_roots() {
    use std::os::unix::fs::PermissionsExt as _;
    let host = Host::new();
    let field = "service[web].credentials.db_password";
    let secret = host.allowed().join("db");
    std::fs::write(&secret, "hunter2-canary").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = host.refused(&credential(&secret)).await;
    check(&err, field, "is a secret, so it must be neither writable by its group nor readable or writable by others");
    assert!(err.to_string().contains("mode 0644") && err.hint().is_some_and(|h| h.contains("chmod 600")), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2"), "never the content: {err:?}");

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = host.refused(&credential(&host.outside().join("db"))).await;
    check(&err, field, "is outside the allowed folders");
    let link = host.allowed().join("link");
    std::os::unix::fs::symlink("../outside", &link).unwrap();
    check(&host.refused(&credential(&link.join("db"))).await, field, "link");
    let fifo = host.allowed().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o600)).unwrap();
    check(&host.refused(&credential(&fifo)).await, field, "is not a regular file");
    let big = host.allowed().join("big");
    std::fs::write(&big, vec![b'x'; 2 << 20]).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    check(&host.refused(&credential(&big)).await, field, "is 2097152 bytes; a credential may be at most 1 MiB");
    check(&host.refused(&credential(&host.allowed().join("missing"))).await, field, "does not exist");

    // A private file gets past the policy (what fails later, if anything, is not about paths).
    let content =
        format!("version = 1\n[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\n{}\n", credential(&secret));
    let request =
        CreateRequest { files: vec![SourceFile { label: "jobs.toml".into(), content }], ..Default::default() };
    if let Err(e) = host.local(None).plan(&request).await {
        assert!(!e.to_string().contains("credentials"), "{e}");
    }
}

#[tokio::test]
async fn dev_zero_is_refused_not_read_even_when_dev_is_allowed() {
    let host = Host::new();
    let mut ctx = RenderContext::new(Scope::User);
    ctx.data_dir = AbsPath::new(host.data().display().to_string()).unwrap();
    let sources = PolicySources { allowed_paths: Some("/dev".into()), ..host.sources(None) };
    let local = Local::new(ctx).with_path_policy(PathPolicy::load(Scope::User, &host.data(), &sources).unwrap());
    let content = "version = 1\n[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\nenv_file = \"/dev/zero\"\n";
    let request = CreateRequest {
        files: vec![SourceFile { label: "jobs.toml".into(), content: content.into() }],
        ..Default::default()
    };
    let started = Instant::now();
    let err = local.plan(&request).await.unwrap_err();
    check(&err, "service[web].env_file", "/dev/zero is a character device");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Outside the roots, it is refused as such.
    check(&host.refused("env_file = \"/dev/zero\"").await, "service[web].env_file", "outside the allowed folders");
}

#[tokio::test]
async fn env_file_errors_say_the_line_never_the_content() {
    let host = Host::new();
    let file = host.allowed().join("app.env");
    std::fs::write(&file, "A=1\nghp_SECRETTOKEN1234\n").unwrap();
    let err = host.refused(&env_file(&file)).await;
    check(&err, "service[web].env_file", "line 2: no '=' (systemd ignores a line without one)");
    assert!(!err.to_string().contains("SECRET"), "{err}");
    std::fs::write(&file, b"A=1\nB=\xff\xfe\n").unwrap();
    check(&host.refused(&env_file(&file)).await, "service[web].env_file", "line 2 is not UTF-8 text");
}

#[tokio::test]
async fn a_working_directory_must_exist_and_be_a_folder_under_the_roots() {
    let host = Host::new();
    let wd = |p: &Path| format!("working_directory = \"{}\"", p.display());
    check(&host.refused(&wd(&host.allowed().join("nope"))).await, "service[web].working_directory", "does not exist");
    let file = host.allowed().join("f");
    std::fs::write(&file, "").unwrap();
    check(&host.refused(&wd(&file)).await, "service[web].working_directory", "is not a folder");
    check(&host.refused(&wd(&host.outside())).await, "service[web].working_directory", "outside the allowed folders");
}

#[tokio::test]
async fn docker_host_paths_that_hand_over_the_host_are_refused() {
    let host = Host::new();
    let field = "service[web].environment.docker.volumes[0].host_path";
    check(&host.refused(&volume("/")).await, field, "would give the container the host's whole file system");
    check(&host.refused(&volume("/var/run/docker.sock")).await, field, "the Docker socket");
    check(&host.refused(&volume("/run/docker.sock")).await, field, "the Docker socket");
    check(&host.refused(&volume("/run")).await, field, "the Docker socket");
    check(&host.refused(&volume("/proc")).await, field, "kernel interfaces");
    check(&host.refused(&volume("/dev/sda")).await, field, "kernel interfaces");
    let err = host.refused(&volume("/sys/fs")).await;
    check(&err, field, "kernel interfaces");
    assert!(err.hint().unwrap().contains("docker_host_paths = [\"/sys/fs\"]"), "{:?}", err.hint());
    check(&host.refused(&volume(&format!("{}/a:b", host.allowed().display()))).await, field, "contains ':' or ','");
    check(&host.refused(&volume(&format!("{}/a,b", host.allowed().display()))).await, field, "contains ':' or ','");
    check(&host.refused(&volume(&host.outside().display().to_string())).await, field, "outside the allowed folders");
    // A build context too.
    let build = format!(
        "environment = {{ docker = {{ image = {{ tag = \"app:1\", path = \"{}\" }} }} }}",
        host.outside().display()
    );
    check(&host.refused(&build).await, "service[web].environment.docker.image.path", "outside the allowed folders");
}

#[tokio::test]
async fn docker_host_paths_listed_in_the_config_are_allowed() {
    let host = Host::new();
    let local = host.local(Some("version = 1\ndocker_host_paths = [\"/run/docker.sock\"]\n"));
    let content = format!(
        "version = 1\n[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\n{}\n",
        volume("/run/docker.sock")
    );
    let request =
        CreateRequest { files: vec![SourceFile { label: "jobs.toml".into(), content }], ..Default::default() };
    // It gets past the policy (what fails later, if anything, is not about paths).
    if let Err(e) = local.plan(&request).await {
        assert!(!e.to_string().contains("host_path"), "{e}");
    }
}

#[tokio::test]
async fn image_references_are_checked() {
    let host = Host::new();
    for bad in ["Busybox", "busybox:", "busybox@sha256:abc", "reg.io//app", "app:-x"] {
        let err = host.refused(&format!("environment = {{ docker = {{ image = \"{bad}\" }} }}")).await;
        check(&err, "service[web].environment.docker.image", "is not an image reference");
    }
}

#[test]
fn a_bad_config_file_names_the_file_the_line_and_the_field() {
    let host = Host::new();
    let load = |text: &str| PathPolicy::load(Scope::User, &host.data(), &host.sources(Some(text))).unwrap_err();
    let file = host.dir.path().join("config.toml");
    let err = load("version = 1\nallowed_path = [\"/srv\"]\n");
    assert_eq!(err.exit_code(), exit::INVALID);
    let message = err.to_string();
    assert!(message.starts_with(&format!("{}:2:1: unknown field `allowed_path`", file.display())), "{message}");
    let err = load("version = 1\nallowed_paths = \"/srv\"\n");
    assert_eq!(
        err.to_string(),
        format!("{}:2:17: allowed_paths: invalid type: string \"/srv\", expected a sequence", file.display())
    );
    let err = load("allowed_paths = []\n");
    assert_eq!(err.to_string(), format!("{}:1:1: missing field `version`", file.display()));
    let err = load("version = 2\n");
    assert_eq!(err.to_string(), format!("{}: version 2 is not supported; this tf reads version 1", file.display()));
    let err = load("version = 1\nallowed_paths = [\"srv\"]\n");
    assert!(err.to_string().contains("\"srv\" is not an absolute path"), "{err}");
}

#[test]
fn roots_are_the_defaults_the_config_and_the_variable_never_the_current_folder() {
    let host = Host::new();
    let extra = host.dir.path().join("extra");
    let sources = PolicySources {
        home: Some("/home/ann".into()),
        allowed_paths: Some(format!("::relative-is-refused-below:{}", host.allowed().display()).into()),
        ..host.sources(Some(&format!("version = 1\nallowed_paths = [\"{}\"]\n", extra.display())))
    };
    let err = PathPolicy::load(Scope::User, &host.data(), &sources).unwrap_err();
    assert!(err.to_string().contains("TASKFLOWS_ALLOWED_PATHS: \"relative-is-refused-below\""), "{err}");

    let sources = PolicySources { allowed_paths: Some(format!("::{}:", host.allowed().display()).into()), ..sources };
    let policy = PathPolicy::load(Scope::User, &host.data(), &sources).unwrap();
    let roots: Vec<(String, String)> =
        policy.roots().iter().map(|r| (r.path.display().to_string(), r.from.clone())).collect();
    let config = host.dir.path().join("config.toml").display().to_string();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap().display().to_string();
    assert_eq!(
        roots,
        [
            ("/home/ann".to_owned(), "default".to_owned()),
            (canonical(&host.data()), "default".to_owned()),
            (extra.display().to_string(), config.clone()),
            (canonical(&host.allowed()), "TASKFLOWS_ALLOWED_PATHS".to_owned()),
        ]
    );
    let system = PathPolicy::load(
        Scope::System,
        Path::new("/var/lib/taskflows"),
        &PolicySources { config_file: None, allowed_paths: None, home: Some("/root".into()) },
    )
    .unwrap();
    let roots: Vec<String> = system.roots().iter().map(|r| r.path.display().to_string()).collect();
    assert!(roots.iter().all(|r| r != "/" && r != "/root"), "{roots:?}");
    assert!(roots.contains(&"/srv".to_owned()) && roots.contains(&"/var/lib/taskflows".to_owned()), "{roots:?}");
    // default_paths = false leaves the others only.
    let only = host.sources(Some("version = 1\ndefault_paths = false\n"));
    let policy = PathPolicy::load(Scope::User, &host.data(), &only).unwrap();
    assert_eq!(policy.roots().len(), 1);
}

#[tokio::test]
async fn a_stored_environment_is_checked_before_it_is_stored() {
    let host = Host::new();
    let file = |content: &str| taskflows_api::EnvironmentFile {
        name: taskflows_core::EnvName::new("box").unwrap(),
        file: SourceFile { label: "box.toml".into(), content: content.into() },
    };
    let local = host.local(None);
    let err = local
        .env_create(&file(
            "version = 1\n[docker]\nimage = \"busybox\"\nvolumes = [{ host_path = \"/\", container_path = \"/h\" }]\n",
        ))
        .await
        .unwrap_err();
    check(&err, "environment[box].docker.volumes[0].host_path", "the host's whole file system");
    let err = local.env_update(&file("version = 1\n[docker]\nimage = \"BusyBox\"\n")).await.unwrap_err();
    check(&err, "environment[box].docker.image", "is not an image reference");
    assert!(!host.data().join("environments").exists(), "nothing stored");
}

#[tokio::test]
async fn paths_inside_the_roots_pass_links_included_and_loops_are_refused() {
    let host = Host::new();
    let real = host.allowed().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("app.env"), "# comment\nA=1\nB=\"two words\"\n").unwrap();
    // A link that stays inside: an absolute one to a folder, a relative one to the file.
    std::os::unix::fs::symlink(&real, host.allowed().join("current")).unwrap();
    std::os::unix::fs::symlink("real/app.env", host.allowed().join("app.env")).unwrap();
    let service = format!(
        "version = 1\n[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\nenv_file = \"{}\"\nworking_directory = \"{}\"\n\
         [[service]]\nname = \"api\"\nstart_command = \"/bin/true\"\nenv_file = \"{}\"\n",
        host.allowed().join("current/app.env").display(),
        host.allowed().join("current").display(),
        host.allowed().join("app.env").display(),
    );
    let request =
        CreateRequest { files: vec![SourceFile { label: "jobs.toml".into(), content: service }], ..Default::default() };
    let plan = host.local(None).plan(&request).await.expect("allowed");
    assert!(plan.units.iter().any(|u| u.content.contains("EnvironmentFile=")), "{:?}", plan.units);

    std::os::unix::fs::symlink("loop-b", host.allowed().join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", host.allowed().join("loop-b")).unwrap();
    let err = host.refused(&env_file(&host.allowed().join("loop-a"))).await;
    check(&err, "service[web].env_file", "too many levels of symbolic links");
}
