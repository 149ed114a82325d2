//! Saved service definitions, `DATA_DIR/services/NAME.toml` (the service's table from the file
//! it was created from), to re-create the services that use an environment when it changes.

use std::path::PathBuf;

use taskflows_core::{EnvName, Environment, ServiceName, ServiceSpec};

use crate::{Error, Result, Store};

impl Store {
    fn definition_path(&self, name: &ServiceName) -> PathBuf {
        self.data_dir().join("services").join(format!("{name}.toml"))
    }

    /// Keep a service's definition (a service file holding only its table), written atomically
    /// unless it is already there as is, to re-create the service when an environment it uses
    /// changes.
    pub fn save_definition(&self, name: &ServiceName, text: &str) -> Result<PathBuf> {
        let path = self.definition_path(name);
        crate::files::write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// A service's saved definition, if there is one; one that does not parse is an error
    /// naming its file.
    pub fn definition(&self, name: &ServiceName) -> Result<Option<ServiceSpec>> {
        let path = self.definition_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let mut specs = taskflows_core::file::parse_service_file(&path.display().to_string(), &text)
            .map_err(|source| Error::StoredFile { source })?;
        match (specs.pop(), specs.is_empty()) {
            (Some(spec), true) if spec.name == *name => Ok(Some(spec)),
            _ => Err(Error::Invalid(format!(
                "{}: a saved definition must hold exactly the service {:?}; remove the file and create the service again",
                path.display(),
                name.as_str()
            ))),
        }
    }

    /// The installed services that use the stored environment `name`: those with a saved
    /// definition naming it (to re-create), and those without one.
    pub fn definitions_using(&self, name: &EnvName) -> Result<(Vec<ServiceSpec>, Vec<ServiceName>)> {
        let mut specs = Vec::new();
        let mut not_updated = Vec::new();
        for service in self.users(name)? {
            match self.definition(&service)? {
                Some(spec) if matches!(&spec.environment, Some(Environment::Named(n)) if n == name) => specs.push(spec),
                _ => not_updated.push(service),
            }
        }
        Ok((specs, not_updated))
    }

    /// Forget a service's saved definition (nothing to do when there is none).
    pub fn remove_definition(&self, name: &ServiceName) -> Result<()> {
        let path = self.definition_path(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn definitions_are_private_and_older_readable_ones_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("data"), dir.path().join("units"));
        let name = ServiceName::new("svc").unwrap();
        let text = "[[service]]\nname = \"svc\"\nstart_command = \"/bin/true\"\nenv = { TOKEN = \"s3cret\" }\n";
        let path = store.save_definition(&name, text).unwrap();
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));

        // as an older tf left them: readable by everyone, and unchanged since
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(path.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
        store.save_definition(&name, text).unwrap();
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        assert_eq!(store.definition(&name).unwrap().unwrap().name, name);
    }
}
