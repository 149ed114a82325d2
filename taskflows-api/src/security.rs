//! The API server's security file, `DATA_DIR/api/security.toml`: whether requests must be
//! signed, and the secret. It is private (0600, its owner's alone), written atomically, and read
//! fail-closed: a missing, corrupt, foreign or group/world-readable file, or a short secret,
//! stops the server instead of opening it.

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::signing::MIN_SECRET_LEN;
use crate::{Error, Result};

/// The security file's format version.
const VERSION: u32 = 1;

/// The name of the systemd credential the installed server reads the file from
/// (`LoadCredential=`).
pub const CREDENTIAL: &str = "security";

/// Whether requests are signed, and with what.
#[derive(Clone, PartialEq, Eq)]
pub enum Security {
    /// Every route but `/health` needs a valid signature with this secret.
    Signed {
        /// The shared secret.
        secret: String,
    },
    /// Nobody signs; the server listens on loopback only. A secret kept for later.
    Disabled {
        /// A secret to sign with again after `tf api security setup`.
        secret: Option<String>,
    },
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Security::Signed { secret } => write!(f, "Signed {{ secret: {} }}", fingerprint(secret)),
            Security::Disabled { .. } => write!(f, "Disabled"),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    signing: Signing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Signing {
    Enabled,
    Disabled,
}

/// `DATA_DIR/api/security.toml`.
pub fn security_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api").join("security.toml")
}

/// The file a server reads: systemd's credential when it was started with one, else `path`.
pub fn security_source(path: &Path) -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if Path::new(&dir).join(CREDENTIAL).exists() => Path::new(&dir).join(CREDENTIAL),
        _ => path.to_owned(),
    }
}

/// A short, non-secret name of a secret: the first 12 hex digits of its SHA-256.
pub fn fingerprint(secret: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))[..12].to_owned()
}

/// Check a secret's form: at least [`MIN_SECRET_LEN`] bytes of printable ASCII, no spaces.
pub fn check_secret(secret: &str) -> Result<()> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::invalid(format!(
            "the secret is {} bytes long; at least {MIN_SECRET_LEN} are needed (`tf api generate-secret` makes one)",
            secret.len()
        )));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid("the secret may hold printable ASCII characters only (no spaces)"));
    }
    Ok(())
}

/// A private file's text (at most 64 KiB): none when it does not exist; why not when it is not a
/// regular file of this user's, readable by it alone, in UTF-8. Symbolic links are not followed.
pub(crate) fn read_private(path: &Path) -> std::result::Result<Option<String>, String> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(format!("owned by uid {}, not by this user", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!("mode {:o} lets others read it; it must be 0600", meta.mode() & 0o777));
    }
    let mut text = String::new();
    (&mut file).take(64 * 1024).read_to_string(&mut text).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok(Some(text))
}

/// A private file's TOML as `T`. A mistake is named by its line only: the content (secrets,
/// hashes) is never quoted.
pub(crate) fn parse_private<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| text[..s.start].lines().count().max(1));
        at.map_or("corrupt".to_owned(), |line| format!("corrupt at line {line}"))
    })
}

impl Security {
    /// Read the security file at `path`, refusing anything doubtful.
    pub fn load(path: &Path) -> Result<Security> {
        let fail = |why: &str| Error::Invalid {
            message: format!("the security file {}: {why}", path.display()),
            hint: Some("`tf api security setup` writes a new one (-r to replace a broken one)".to_owned()),
        };
        let text = match read_private(path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(Error::Invalid {
                    message: format!("no security file at {}: the API refuses to start without one", path.display()),
                    hint: Some("`tf api security setup` creates it with a new secret".to_owned()),
                });
            }
            Err(why) => return Err(fail(&why)),
        };
        let parsed: File = parse_private(&text).map_err(|why| fail(&why))?;
        if parsed.version != VERSION {
            return Err(fail(&format!("version {} is not known (this tf reads {VERSION})", parsed.version)));
        }
        if let Some(secret) = &parsed.secret {
            check_secret(secret).map_err(|e| fail(&e.to_string()))?;
        }
        match (parsed.signing, parsed.secret) {
            (Signing::Enabled, Some(secret)) => Ok(Security::Signed { secret }),
            (Signing::Enabled, None) => Err(fail("signing is enabled but no secret is set")),
            (Signing::Disabled, secret) => Ok(Security::Disabled { secret }),
        }
    }

    /// Write it to `path` (0600, atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = match self {
            Security::Signed { secret } => {
                File { version: VERSION, signing: Signing::Enabled, secret: Some(secret.clone()) }
            }
            Security::Disabled { secret } => {
                File { version: VERSION, signing: Signing::Disabled, secret: secret.clone() }
            }
        };
        let text = format!(
            "# taskflows API security: whether requests must be signed, and the shared secret.\n\
             # Keep it private (0600). `tf api security status|setup|disable|set-secret` change it.\n{}",
            toml::to_string(&file).expect("the security file serializes")
        );
        taskflows_systemd::files::write_private(path, text.as_bytes())?;
        Ok(())
    }

    /// The secret requests are signed with, when signing is on.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Security::Signed { secret } => Some(secret),
            Security::Disabled { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::Security;

    fn write(dir: &std::path::Path, text: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join("security.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_saved_file_loads_back_and_only_a_sound_one_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api").join("security.toml");
        let secret = crate::signing::new_secret();
        Security::Signed { secret: secret.clone() }.save(&path).unwrap();
        assert_eq!(Security::load(&path).unwrap(), Security::Signed { secret: secret.clone() });

        let good = format!("version = 1\nsigning = \"enabled\"\nsecret = \"{secret}\"\n");
        let refused = [
            (good.as_str(), 0o640, "mode 640 lets others read it"),
            (good.as_str(), 0o604, "mode 604"),
            ("version = 1\nsigning = \"enabled\"\nsecret = \"short-secret\"\n", 0o600, "12 bytes long"),
            ("version = 1\nsigning = \"enabled\"\n", 0o600, "no secret is set"),
            ("version = 1\nsigning = \"maybe\"\n", 0o600, "corrupt at line 2"),
            ("version = 2\nsigning = \"disabled\"\n", 0o600, "version 2"),
            ("version = 1\nsigning = \"disabled\"\nextra = 1\n", 0o600, "corrupt"),
            ("\u{0}garbage", 0o600, "corrupt"),
        ];
        for (text, mode, says) in refused {
            let path = write(dir.path(), text, mode);
            let e = Security::load(&path).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?} {mode:o}: {e}");
            assert!(!e.contains(&secret), "{e}");
        }
        let e = Security::load(&dir.path().join("missing.toml")).unwrap_err().to_string();
        assert!(e.contains("refuses to start without one"), "{e}");
        // A link is not followed.
        let target = write(dir.path(), &good, 0o600);
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(Security::load(&link).unwrap_err().to_string().contains("cannot open it"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = crate::signing::new_secret();
        let shown = format!("{:?}", Security::Signed { secret: secret.clone() });
        assert!(!shown.contains(&secret) && shown.contains(&super::fingerprint(&secret)), "{shown}");
    }
}
