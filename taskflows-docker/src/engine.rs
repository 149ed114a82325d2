//! The connection to the engine, and image builds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt as _;
use taskflows_core::DockerBuild;

use crate::error::Error;

/// Where the default engine listens.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connection to a Docker engine whose API version was negotiated.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    host: String,
}

impl Engine {
    /// Connect to `host` (`unix://PATH`, `tcp://…`, `http://…`), or to `DOCKER_HOST`, or to the
    /// default socket, and negotiate the API version (the engine may be older than the client).
    /// An engine that does not answer is [`Error::Unreachable`]. A `tcp://` address speaks TLS
    /// (rustls) when `DOCKER_TLS_VERIFY` or `DOCKER_CERT_PATH` is set, as the docker CLI does:
    /// the engine's certificate is checked against `ca.pem` and the client shows `cert.pem` and
    /// `key.pem`, from `DOCKER_CERT_PATH` (default `~/.docker`). Any other TCP address is refused
    /// ([`Error::Plaintext`]) unless `TASKFLOWS_DOCKER_ALLOW_PLAINTEXT=1`: the Engine API in clear
    /// text lets anyone on the path run containers as root.
    pub async fn connect(host: Option<&str>) -> Result<Engine, Error> {
        Engine::connect_with_env(host, &|name| std::env::var_os(name)).await
    }

    /// [`Engine::connect`] with the environment read through `var` (the tests' own).
    pub(crate) async fn connect_with_env(
        host: Option<&str>,
        var: &(dyn Fn(&str) -> Option<std::ffi::OsString> + Sync),
    ) -> Result<Engine, Error> {
        let host = match host {
            Some(h) => h.to_owned(),
            None => var("DOCKER_HOST")
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty())
                .unwrap_or(DEFAULT_HOST.to_owned()),
        };
        let tls_dir = tls_dir(&host, var);
        let plaintext = tls_dir.is_none() && (host.starts_with("tcp://") || host.starts_with("http://"));
        if plaintext && var("TASKFLOWS_DOCKER_ALLOW_PLAINTEXT").is_none_or(|v| v != "1") {
            return Err(Error::Plaintext { host });
        }
        if let Some(dir) = &tls_dir {
            // bollard would report a missing file as an engine that does not answer.
            for name in ["ca.pem", "cert.pem", "key.pem"] {
                let path = dir.join(name);
                std::fs::metadata(&path).map_err(|source| Error::Io {
                    what: "cannot read the Docker TLS file (DOCKER_CERT_PATH)",
                    path,
                    source,
                })?;
            }
        }
        let unreachable = |source| Error::Unreachable { host: host.clone(), source };
        // Requests other than attach/wait answer at once; a stuck engine is an error, not a hang.
        const TIMEOUT: u64 = 120;
        let docker = if let Some(dir) = tls_dir {
            // bollard's TLS config and its client-certificate resolver take rustls' process-default
            // provider: ring's (no cmake/C build of aws-lc, as the workspace's other TLS), unless the
            // program installed one (then this changes nothing).
            #[expect(
                deprecated,
                reason = "ring's provider is deprecated for lacking post-quantum key exchange; see above"
            )]
            let ring = rustls::crypto::ring::default_provider();
            let _ = ring.install_default();
            Docker::connect_with_ssl(
                &host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                TIMEOUT,
                bollard::API_DEFAULT_VERSION,
            )
        } else if host.starts_with("unix://") {
            Docker::connect_with_unix(&host, TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_unix(&format!("unix://{host}"), TIMEOUT, bollard::API_DEFAULT_VERSION)
        }
        .map_err(unreachable)?;
        let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
            .await
            .unwrap_or(Err(bollard::errors::Error::RequestTimeoutError))
            .map_err(unreachable)?;
        Ok(Engine { docker, host })
    }

    /// The address this engine was reached at.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bollard client, for what this crate does not wrap.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The id of image `reference` on this engine; `None` when it is not here (it is pulled at
    /// the first run).
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(Error::engine(format!("inspect image {reference}"))(e)),
        }
    }

    /// Build `build.tag` from its folder. The build's output goes to `progress` line by line; a
    /// failed build is [`Error::Build`] with the build's message.
    pub async fn build_image(
        &self,
        service: &str,
        build: &DockerBuild,
        mut progress: impl FnMut(&str),
    ) -> Result<(), Error> {
        let context = tar_folder(Path::new(build.path.as_str()), build.dockerfile.as_str())?;
        let options = BuildImageOptions {
            dockerfile: build.dockerfile.to_string(),
            t: Some(build.tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(
                build
                    .build_args
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..BuildImageOptions::default()
        };
        let failed =
            |message: String| Error::Build { service: service.to_owned(), tag: build.tag.to_string(), message };
        let mut stream = self.docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(error) = info.error_detail.and_then(|d| d.message) {
                        return Err(failed(error.trim_end().to_owned()));
                    }
                    if let Some(text) = info.stream {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            progress(line);
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(failed(error)),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => return Err(failed(message)),
                Err(e) => return Err(failed(e.to_string())),
            }
        }
        Ok(())
    }
}

/// The folder as an uncompressed tar stream, paths relative to it (symlinks kept as links),
/// without what its `.dockerignore` excludes, as the `docker` CLI sends it: the Dockerfile and
/// the `.dockerignore` itself always go. (A `DOCKERFILE.dockerignore` beside a custom
/// Dockerfile, which BuildKit prefers, is not read.)
fn tar_folder(dir: &Path, dockerfile: &str) -> Result<Vec<u8>, Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { what: "cannot read the build context", path, source }
    };
    let ignore_file = dir.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ignore_file) {
        Ok(text) => Ignore::parse(&text).map_err(|message| Error::Io {
            what: "bad pattern in",
            path: ignore_file.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => return Err(io(&ignore_file)(e)),
    };
    let dockerfile = clean(dockerfile);
    let keep = |rel: &str| rel == ".dockerignore" || rel == dockerfile || !ignore.excludes(rel);
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    let mut pending = vec![PathBuf::new()];
    while let Some(rel_dir) = pending.pop() {
        let folder = dir.join(&rel_dir);
        let mut entries: Vec<_> =
            std::fs::read_dir(&folder).and_then(Iterator::collect::<Result<_, _>>).map_err(io(&folder))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let rel = rel_dir.join(entry.file_name());
            let rel_text = rel.to_string_lossy();
            let kept = keep(&rel_text);
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                if kept {
                    archive.append_dir(&rel, entry.path()).map_err(io(&entry.path()))?;
                }
                // An excluded folder may hold a file an exception (`!…`) brings back.
                if kept || ignore.has_exceptions() || dockerfile.starts_with(&format!("{rel_text}/")) {
                    pending.push(rel);
                }
            } else if kept {
                archive.append_path_with_name(entry.path(), &rel).map_err(io(&entry.path()))?;
            }
        }
    }
    archive.into_inner().map_err(io(dir))
}

/// The patterns of a `.dockerignore`, read and matched as Docker does: one per line, `#`
/// comments, `!` exceptions, each pattern cleaned and relative to the context's root, `*` and
/// `?` not crossing `/`, `**` any number of folders; a path is excluded when it or one of its
/// parent folders matches, the last matching pattern deciding.
#[derive(Debug, Default)]
struct Ignore {
    patterns: Vec<(globset::GlobMatcher, bool)>,
}

impl Ignore {
    fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("line {}: {e}", n + 1))?;
            patterns.push((glob.compile_matcher(), exception));
        }
        Ok(Ignore { patterns })
    }

    fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(_, exception)| *exception)
    }

    /// Whether `rel` (`/`-separated, relative to the context) stays out of the context.
    fn excludes(&self, rel: &str) -> bool {
        let parents: Vec<&str> = rel.match_indices('/').map(|(i, _)| &rel[..i]).collect();
        let mut excluded = false;
        for (glob, exception) in &self.patterns {
            if glob.is_match(rel) || parents.iter().any(|p| glob.is_match(p)) {
                excluded = !exception;
            }
        }
        excluded
    }
}

/// A path as Go's `filepath.Clean` leaves it, relative: no `.` or empty components, `..`
/// resolved lexically, no leading or trailing `/`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The folder of `ca.pem`, `cert.pem` and `key.pem` when `host` is reached over TLS: a `tcp://`
/// address with `DOCKER_TLS_VERIFY` or `DOCKER_CERT_PATH` set (the docker CLI's variables).
/// `var` reads the environment.
fn tls_dir(host: &str, var: &(dyn Fn(&str) -> Option<std::ffi::OsString> + Sync)) -> Option<std::path::PathBuf> {
    let set = |name| var(name).filter(|v| !v.is_empty());
    if !host.starts_with("tcp://") || (set("DOCKER_TLS_VERIFY").is_none() && set("DOCKER_CERT_PATH").is_none()) {
        return None;
    }
    Some(match set("DOCKER_CERT_PATH") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(&set("HOME").unwrap_or_else(|| "/root".into())).join(".docker"),
    })
}

#[cfg(test)]
mod tls_tests;

#[cfg(test)]
mod tests {
    /// A TCP engine without the TLS variables is refused before any connection.
    #[tokio::test]
    async fn a_plaintext_engine_is_refused() {
        for host in ["tcp://10.0.0.1:2375", "http://docker.example:2375"] {
            match Engine::connect(Some(host)).await {
                Err(Error::Plaintext { host: h }) => assert_eq!(h, host),
                Err(other) => panic!("{host}: {other}"),
                Ok(_) => panic!("{host}: connected"),
            }
        }
    }

    use super::*;

    #[test]
    fn tcp_with_the_docker_tls_variables_speaks_tls() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| std::ffi::OsString::from(v))
        };
        let tcp = "tcp://docker.example:2376";
        assert_eq!(tls_dir(tcp, &env(&[("HOME", "/home/a")])), None);
        assert_eq!(tls_dir(tcp, &env(&[("DOCKER_TLS_VERIFY", ""), ("HOME", "/home/a")])), None);
        assert_eq!(
            tls_dir(tcp, &env(&[("DOCKER_TLS_VERIFY", "1"), ("HOME", "/home/a")])),
            Some("/home/a/.docker".into())
        );
        assert_eq!(tls_dir(tcp, &env(&[("DOCKER_CERT_PATH", "/etc/docker-certs")])), Some("/etc/docker-certs".into()));
        // A socket is never TLS; http:// says clear text.
        assert_eq!(tls_dir("unix:///run/docker.sock", &env(&[("DOCKER_TLS_VERIFY", "1")])), None);
        assert_eq!(tls_dir("http://docker.example:2375", &env(&[("DOCKER_TLS_VERIFY", "1")])), None);
    }

    #[test]
    fn dockerignore_patterns_match_as_docker_does() {
        let ignore = Ignore::parse(
            "# comment\n\n/secret.env\n*.log\n!keep.log\nbuild/\ndocs/**/*.md\n./tmp\n!build/keep\n a?c \n",
        )
        .unwrap();
        for (path, excluded) in [
            ("secret.env", true),
            ("sub/secret.env", false),
            ("app.log", true),
            ("sub/app.log", false),
            ("keep.log", false),
            ("build", true),
            ("build/out/bin", true),
            ("build/keep", false),
            ("docs/a.md", true),
            ("docs/x/y/a.md", true),
            ("docs/a.txt", false),
            ("tmp/x", true),
            ("abc", true),
            ("abbc", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ignore.excludes(path), excluded, "{path}");
        }
        assert!(Ignore::parse("ok\n[z-a\n").unwrap_err().starts_with("line 2: "));
        assert_eq!(clean("./a//b/../c/"), "a/c");
    }

    #[test]
    fn the_build_context_leaves_out_what_dockerignore_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, rel).unwrap();
        };
        for rel in ["Dockerfile", "app.py", ".env", "logs/a.log", "logs/keep.log", "node_modules/x/y.js"] {
            write(rel);
        }
        std::fs::write(dir.path().join(".dockerignore"), ".env\nlogs\n!logs/keep.log\nnode_modules\nDockerfile\n")
            .unwrap();
        let names = |dockerfile: &str| {
            let tar = tar_folder(dir.path(), dockerfile).unwrap();
            let mut archive = tar::Archive::new(tar.as_slice());
            let mut names: Vec<String> =
                archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(names("Dockerfile"), [".dockerignore", "Dockerfile", "app.py", "logs/keep.log"]);
        // A Dockerfile in an excluded folder goes all the same.
        write("node_modules/Dockerfile.dev");
        assert_eq!(
            names("./node_modules/Dockerfile.dev"),
            [".dockerignore", "app.py", "logs/keep.log", "node_modules/Dockerfile.dev"]
        );
    }
}
