//! The container spec file: what `tf create` decided a service's container is, written to
//! `DATA_DIR/containers/NAME.json` and read back by `tf container run|stop` and `tf remove`.

use std::path::{Path, PathBuf};

use bollard::models::ContainerCreateBody;
use serde::{Deserialize, Serialize};
use taskflows_core::{DockerContainer, DockerImage, Environment, RenderContext, ServiceSpec};

use crate::error::Error;
use crate::mapping::{HASH_LABEL, IMAGE_LABEL, OWNER_LABELS, SCOPE_LABEL, UID_LABEL, config_hash, create_body};

/// The format version written into every spec file.
pub const SPEC_VERSION: u32 = 1;

/// One service's container, as stored on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Format version ([`SPEC_VERSION`]).
    pub version: u32,
    /// The service that runs the container.
    pub service: String,
    /// The container's name: its `name`, or `taskflows-SERVICE`.
    pub container: String,
    /// Keep the container between runs; re-create it only when `config_hash` changes.
    pub persisted: bool,
    /// The engine the container was created for (`DOCKER_HOST` when `tf create` ran); `None`:
    /// the default socket.
    pub docker_host: Option<String>,
    /// [`config_hash`] of `create`, also its `taskflows.config-hash` label.
    pub config_hash: String,
    /// The Engine API create body.
    pub create: ContainerCreateBody,
}

/// The container a service runs in, if any: its inline environment or the stored one it names.
pub fn docker_environment<'a>(spec: &'a ServiceSpec, ctx: &'a RenderContext) -> Option<&'a DockerContainer> {
    match &spec.environment {
        Some(Environment::Docker(c)) => Some(c),
        Some(Environment::Named(n)) => match ctx.named_environments.get(n) {
            Some(Environment::Docker(c)) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// The container's name: its own, or `taskflows-SERVICE` (what rendering writes into the unit).
pub fn container_name(spec: &ServiceSpec, container: &DockerContainer) -> String {
    container.name.as_ref().map_or_else(|| spec.name.unit_stem(), ToString::to_string)
}

/// A container's env file, read safely: not through a final symlink, without blocking (a FIFO
/// cannot hang this), a regular file of at most 1 MiB, read from the descriptor it was checked
/// on.
fn read_env_file(path: &Path) -> Result<String, Error> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read as _;
    const MAX: u64 = 1 << 20;
    let bad = |message: &str| Error::Io {
        what: "cannot read the container's env_file",
        path: path.to_owned(),
        source: std::io::Error::other(message.to_owned()),
    };
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::Io {
            what: "cannot read the container's env_file",
            path: path.to_owned(),
            source: e.into(),
        })?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(|e| Error::Io {
        what: "cannot read the container's env_file",
        path: path.to_owned(),
        source: e,
    })?;
    if !meta.is_file() {
        return Err(bad("not a regular file"));
    }
    if meta.len() > MAX {
        return Err(bad("larger than 1 MiB"));
    }
    let mut text = String::new();
    file.take(MAX + 1).read_to_string(&mut text).map_err(|e| Error::Io {
        what: "cannot read the container's env_file",
        path: path.to_owned(),
        source: e,
    })?;
    Ok(text)
}

impl ContainerSpec {
    /// Map a service's container to a spec; reads the container's env file.
    pub fn new(spec: &ServiceSpec, container: &DockerContainer, docker_host: Option<String>) -> Result<Self, Error> {
        let env_file = match &container.env_file {
            Some(path) => {
                let path = Path::new(path.as_str());
                let text = read_env_file(path)?;
                taskflows_core::parse_env_file(&text)
                    .map_err(|e| {
                        Error::field(
                            format!("service[{}].environment.docker.env_file", spec.name),
                            format!("{}: {e}", path.display()),
                        )
                    })?
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect()
            }
            None => Vec::new(),
        };
        let mut create = create_body(spec, container, &env_file)?;
        let hash = config_hash(&create);
        create.labels.get_or_insert_default().insert(HASH_LABEL.to_owned(), hash.clone());
        Ok(ContainerSpec {
            version: SPEC_VERSION,
            service: spec.name.as_str().to_owned(),
            container: container_name(spec, container),
            persisted: container.persisted,
            docker_host,
            config_hash: hash,
            create,
        })
    }

    /// Name the container's owner in its labels: the scope's manager and the user (with the
    /// service, which it always names). A container is this spec's only when all three match,
    /// so another user's or scope's same-named container is never stopped or removed.
    pub fn owned_by(mut self, scope: &str, uid: u32) -> ContainerSpec {
        let labels = self.create.labels.get_or_insert_default();
        labels.insert(SCOPE_LABEL.to_owned(), scope.to_owned());
        labels.insert(UID_LABEL.to_owned(), uid.to_string());
        self.config_hash = config_hash(&self.create);
        self.create.labels.get_or_insert_default().insert(HASH_LABEL.to_owned(), self.config_hash.clone());
        self
    }

    /// The owner labels this spec's container must carry (those it has: a spec written before
    /// the scope and uid labels existed names the service alone).
    pub fn owner_labels(&self) -> Vec<(&'static str, &str)> {
        let labels = self.create.labels.as_ref();
        OWNER_LABELS
            .iter()
            .filter_map(|key| Some((*key, labels.and_then(|l| l.get(*key)).map(String::as_str)?)))
            .collect()
    }

    /// Record the id of the image the container will run (a label, not hashed), so that a
    /// rebuilt or re-pulled image changes the spec file and `tf create` restarts a running
    /// service; its run re-creates a persisted container whose image is no longer the one the
    /// reference names.
    pub fn with_image_id(mut self, id: &str) -> ContainerSpec {
        self.create.labels.get_or_insert_default().insert(IMAGE_LABEL.to_owned(), id.to_owned());
        self.config_hash = config_hash(&self.create);
        self.create.labels.get_or_insert_default().insert(HASH_LABEL.to_owned(), self.config_hash.clone());
        self
    }

    /// The image to build first, if the container's image is built from a Dockerfile.
    pub fn build_of(container: &DockerContainer) -> Option<&taskflows_core::DockerBuild> {
        match &container.image {
            DockerImage::Build(b) => Some(b),
            DockerImage::Name(_) => None,
        }
    }

    /// `DATA_DIR/containers`.
    pub fn dir(data_dir: &Path) -> PathBuf {
        data_dir.join("containers")
    }

    /// `DATA_DIR/containers/NAME.json`.
    pub fn path(data_dir: &Path, container: &str) -> PathBuf {
        Self::dir(data_dir).join(format!("{container}.json"))
    }

    /// Read the spec of container `name`.
    pub fn read(data_dir: &Path, name: &str) -> Result<ContainerSpec, Error> {
        let path = Self::path(data_dir, name);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            what: "cannot read container spec",
            path: path.clone(),
            source,
        })?;
        Self::parse(&path, &text)
    }

    /// Parse the text of a spec file; `path` names it in errors. A version other than
    /// [`SPEC_VERSION`], an unknown field or a malformed body is refused. What [`ContainerSpec::read`]
    /// does after reading the file; public for the fuzz targets (`fuzz/`).
    pub fn parse(path: &Path, text: &str) -> Result<ContainerSpec, Error> {
        let bad = |message: String| Error::SpecFile { path: path.to_owned(), message };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(SPEC_VERSION) => {}
            other => {
                return Err(bad(format!(
                    "version {other:?} is not supported (this tf writes version {SPEC_VERSION}); run `tf create` again"
                )));
            }
        }
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))
    }

    /// Write atomically (temporary file created with mode 0600, then rename) into the folder
    /// `DATA_DIR/containers`, mode 0700: the spec holds the container's environment, env_file
    /// values included, so only the owner may read it. Returns `None` when the file already
    /// holds this spec (nothing is written; the modes are still made private).
    pub fn write(&self, data_dir: &Path) -> Result<Option<PathBuf>, Error> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let dir = Self::dir(data_dir);
        let path = Self::path(data_dir, &self.container);
        let io = |what, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { what, path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io("cannot create folder", &dir))?;
        // A folder (or file) left by an older tf with mode 0755 (0644) is made private too.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot make private", &dir))?;
        if Self::read(data_dir, &self.container).is_ok_and(|old| old == *self) {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(io("cannot make private", &path))?;
            return Ok(None);
        }
        let text = self.to_json();
        // tempfile creates the temporary file 0600 beside the target; it is removed on failure.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tf-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io("cannot write container spec", &dir))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io("cannot write container spec", tmp.path()))?;
        tmp.persist(&path).map_err(|e| io("cannot write container spec", &path)(e.error))?;
        Ok(Some(path))
    }

    /// The text of this spec's file (what [`ContainerSpec::write`] writes): pretty JSON with
    /// sorted keys, ending in a newline. [`ContainerSpec::parse`] reads it back to the same spec.
    pub fn to_json(&self) -> String {
        // serde_json::Value keeps keys sorted: the file is deterministic although the body has
        // hash maps.
        let value = serde_json::to_value(self).expect("a container spec is JSON");
        let mut text = serde_json::to_string_pretty(&value).expect("a JSON value prints");
        text.push('\n');
        text
    }

    /// Every spec in `DATA_DIR/containers`. One that cannot be read or parsed is an error naming
    /// its file (fail closed: skipping it would orphan its container).
    pub fn all(data_dir: &Path) -> Result<Vec<ContainerSpec>, Error> {
        let dir = Self::dir(data_dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { what: "cannot read the container specs in", path: dir, source }),
        };
        let mut specs: Vec<ContainerSpec> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io { what: "cannot read", path: dir.clone(), source })?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                what: "cannot read container spec",
                path: path.clone(),
                source,
            })?;
            specs.push(Self::parse(&path, &text)?);
        }
        specs.sort_by(|a, b| a.container.cmp(&b.container));
        Ok(specs)
    }

    /// Delete this spec's file (a missing file is fine).
    pub fn delete(&self, data_dir: &Path) -> Result<(), Error> {
        let path = Self::path(data_dir, &self.container);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Io { what: "cannot remove container spec", path, source: e })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn spec_file_and_folder_are_private() {
        let data = tempfile::tempdir().unwrap();
        let spec = ContainerSpec {
            version: SPEC_VERSION,
            service: "db".into(),
            container: "taskflows-db".into(),
            persisted: true,
            docker_host: None,
            config_hash: "0".into(),
            create: ContainerCreateBody { env: Some(vec!["PGPASSWORD=secret".into()]), ..Default::default() },
        };
        // An older tf left a world-readable folder and file.
        let dir = ContainerSpec::dir(data.path());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = spec.write(data.path()).unwrap().expect("written");
        assert_eq!(mode(&path), 0o600, "the spec holds the environment");
        assert_eq!(mode(&dir), 0o700);
        assert!(std::fs::read_to_string(&path).unwrap().contains("PGPASSWORD=secret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(spec.write(data.path()).unwrap(), None, "unchanged: not rewritten");
        assert_eq!(mode(&path), 0o600, "an unchanged old file is made private too");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        assert_eq!(ContainerSpec::read(data.path(), "taskflows-db").unwrap(), spec);
    }
}
