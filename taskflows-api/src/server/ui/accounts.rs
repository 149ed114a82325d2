//! The web UI's users and its token secret: `DATA_DIR/api/ui.toml` (0600, written atomically by
//! `tf api setup-ui`), or `TF_JWT_SECRET`, `TF_ADMIN_USER` and `TF_ADMIN_PASSWORD`, which take
//! precedence as in the Python version.
//!
//! Passwords are hashed with argon2id. bcrypt hashes (what the Python version wrote) are accepted
//! and replaced with argon2id at the next good login. An unknown user is checked against a dummy
//! hash, so neither the answer nor its timing says who exists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use serde::{Deserialize, Serialize};

use crate::security::{check_secret, parse_private, read_private};
use crate::{Error, Result};

/// The file's format version.
const VERSION: u32 = 1;

/// The longest password taken (bytes): hashing is deliberately slow, so its input is bounded.
pub const MAX_PASSWORD: usize = 1024;

/// The shortest password `tf api setup-ui` takes.
pub const MIN_PASSWORD: usize = 10;

/// The variables that replace the file, as in the Python version.
pub const JWT_SECRET_VAR: &str = "TF_JWT_SECRET";
/// See [`JWT_SECRET_VAR`].
pub const ADMIN_USER_VAR: &str = "TF_ADMIN_USER";
/// See [`JWT_SECRET_VAR`].
pub const ADMIN_PASSWORD_VAR: &str = "TF_ADMIN_PASSWORD";

/// `DATA_DIR/api/ui.toml`.
pub fn ui_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api").join("ui.toml")
}

/// The UI file: the token secret and the users.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiFile {
    /// The format version.
    #[serde(default = "version")]
    pub version: u32,
    /// The secret tokens are signed with (HS256).
    pub jwt_secret: Option<String>,
    /// Who may log in.
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

fn version() -> u32 {
    VERSION
}

impl Default for UiFile {
    fn default() -> UiFile {
        UiFile { version: VERSION, jwt_secret: None, users: Vec::new() }
    }
}

/// One user of the UI.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The login name.
    pub name: String,
    /// argon2id (or, from the Python version, bcrypt) in PHC/modular crypt form.
    pub password_hash: String,
}

impl std::fmt::Debug for UiFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        f.debug_struct("UiFile")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "…"))
            .field("users", &names)
            .finish()
    }
}

impl UiFile {
    /// Read the file at `path`; an empty one when there is none. Anything doubtful is refused,
    /// never overwritten.
    pub fn load(path: &Path) -> Result<UiFile> {
        let fail = |why: &str| Error::Invalid {
            message: format!("the web UI's file {}: {why}", path.display()),
            hint: Some("`tf api setup-ui --username NAME` writes it".to_owned()),
        };
        let Some(text) = read_private(path).map_err(|why| fail(&why))? else { return Ok(UiFile::default()) };
        let file: UiFile = parse_private(&text).map_err(|why| fail(&why))?;
        if file.version != VERSION {
            return Err(fail(&format!("version {} is not known (this tf reads {VERSION})", file.version)));
        }
        if let Some(secret) = &file.jwt_secret {
            check_secret(secret).map_err(|e| fail(&format!("jwt_secret: {e}")))?;
        }
        for u in &file.users {
            check_username(&u.name).map_err(|e| fail(&e.to_string()))?;
            if !is_known_hash(&u.password_hash) {
                return Err(fail(&format!("user {:?}: the password hash is neither argon2id nor bcrypt", u.name)));
            }
        }
        Ok(file)
    }

    /// Write it to `path` (0600, atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = format!(
            "# taskflows web UI: the token secret and the users (argon2id hashes).\n\
             # Keep it private (0600). `tf api setup-ui --username NAME` adds a user or sets a password.\n{}",
            toml::to_string(self).map_err(|e| Error::invalid(format!("the web UI's file: {e}")))?
        );
        taskflows_systemd::files::write_private(path, text.as_bytes())?;
        Ok(())
    }

    /// Add `name`, or set its password.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<()> {
        check_username(name)?;
        check_new_password(password)?;
        let password_hash = hash_password(password)?;
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(u) => u.password_hash = password_hash,
            None => self.users.push(UserEntry { name: name.to_owned(), password_hash }),
        }
        Ok(())
    }
}

/// A login name: 1–64 of `A-Z a-z 0-9 . _ @ -`.
pub fn check_username(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "username {name:?}: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '@' and '-' are allowed"
        )))
    }
}

/// A new password: [`MIN_PASSWORD`] to [`MAX_PASSWORD`] bytes.
pub fn check_new_password(password: &str) -> Result<()> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(Error::invalid(format!(
            "password: {MIN_PASSWORD} to {MAX_PASSWORD} bytes are allowed (this one has {})",
            password.len()
        )));
    }
    Ok(())
}

/// `password` hashed with argon2id (the crate's defaults: 19 MiB, 2 passes), with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::invalid(format!("no random salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::invalid(format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid(format!("cannot hash the password: {e}")))
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

fn is_known_hash(hash: &str) -> bool {
    is_bcrypt(hash) || PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

/// Whether `password` matches `hash` (argon2id, or bcrypt from the Python version). Both
/// libraries compare in constant time.
fn matches(hash: &str, password: &str) -> bool {
    if is_bcrypt(hash) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// The users a server checks logins against, and its token secret.
pub struct Accounts {
    jwt_secret: String,
    /// Where users from the file are (a bcrypt hash is replaced there).
    path: PathBuf,
    users: Mutex<HashMap<String, String>>,
    /// The user of `TF_ADMIN_USER`, whose hash is made at start and never saved.
    env_user: Option<String>,
    /// What an unknown user is checked against.
    dummy: String,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").field("path", &self.path).field("env_user", &self.env_user).finish_non_exhaustive()
    }
}

impl Accounts {
    /// The accounts of the file at `path` and of the variables `var` reads. Refused: no token
    /// secret, the API's signing secret as the token secret, no user, half of the admin pair.
    pub fn load(path: &Path, hmac_secret: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Result<Accounts> {
        let file = UiFile::load(path)?;
        let hint = || Some("`tf api setup-ui --username NAME` sets up the web UI's login".to_owned());
        let jwt_secret = match var(JWT_SECRET_VAR) {
            Some(s) => {
                check_secret(&s).map_err(|e| Error::invalid(format!("{JWT_SECRET_VAR}: {e}")))?;
                s
            }
            None => file.jwt_secret.clone().ok_or_else(|| Error::Invalid {
                message: format!("the web UI needs a token secret: none in {} or {JWT_SECRET_VAR}", path.display()),
                hint: hint(),
            })?,
        };
        if hmac_secret.is_some_and(|h| crate::server::constant_time_eq(h.as_bytes(), jwt_secret.as_bytes())) {
            return Err(Error::Invalid {
                message: "the web UI's token secret is the API's signing secret; they must differ".into(),
                hint: Some("`tf api generate-secret` makes a new one for the UI".into()),
            });
        }
        let mut users: HashMap<String, String> = file.users.into_iter().map(|u| (u.name, u.password_hash)).collect();
        let env_user = match (var(ADMIN_USER_VAR), var(ADMIN_PASSWORD_VAR)) {
            (Some(name), Some(password)) => {
                check_username(&name).map_err(|e| Error::invalid(format!("{ADMIN_USER_VAR}: {e}")))?;
                check_new_password(&password).map_err(|e| Error::invalid(format!("{ADMIN_PASSWORD_VAR}: {e}")))?;
                users.insert(name.clone(), hash_password(&password)?);
                Some(name)
            }
            (None, None) => None,
            _ => {
                return Err(Error::invalid(format!(
                    "{ADMIN_USER_VAR} and {ADMIN_PASSWORD_VAR} go together: set both or neither"
                )));
            }
        };
        if users.is_empty() {
            return Err(Error::Invalid {
                message: "the web UI has no user, so nobody could log in".into(),
                hint: hint(),
            });
        }
        let dummy = hash_password("a password nobody has, for names nobody has")?;
        Ok(Accounts { jwt_secret, path: path.to_owned(), users: Mutex::new(users), env_user, dummy })
    }

    /// The token secret.
    pub(crate) fn jwt_secret(&self) -> &[u8] {
        self.jwt_secret.as_bytes()
    }

    /// Whether `name` and `password` match a user (slow by design: call it off the async
    /// threads). A bcrypt hash that matched is replaced with argon2id in the file.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        if password.len() > MAX_PASSWORD {
            return false;
        }
        let hash = self.users.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        let Some(hash) = hash else {
            let _ = matches(&self.dummy, password);
            return false;
        };
        if !matches(&hash, password) {
            return false;
        }
        if is_bcrypt(&hash) && self.env_user.as_deref() != Some(name) {
            self.rehash(name, password);
        }
        true
    }

    fn rehash(&self, name: &str, password: &str) {
        let result = (|| -> Result<()> {
            let new = hash_password(password)?;
            let mut file = UiFile::load(&self.path)?;
            if let Some(u) = file.users.iter_mut().find(|u| u.name == name) {
                u.password_hash = new.clone();
                file.save(&self.path)?;
            }
            self.users.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), new);
            Ok(())
        })();
        match result {
            Ok(()) => tracing::info!(user = name, "web UI: a bcrypt password hash was replaced with argon2id"),
            Err(e) => tracing::warn!(user = name, error = %e, "web UI: cannot replace a bcrypt password hash"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(c: char) -> String {
        std::iter::repeat_n(c, 40).collect()
    }

    #[test]
    fn users_from_the_file_log_in_with_their_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = ui_path(dir.path());
        let mut file = UiFile { jwt_secret: Some(secret('j')), ..UiFile::default() };
        file.set_password("ada", "correct horse battery").unwrap();
        file.save(&path).unwrap();
        let accounts = Accounts::load(&path, Some(&secret('h')), |_| None).unwrap();
        assert!(accounts.verify("ada", "correct horse battery"));
        assert!(!accounts.verify("ada", "correct horse batterY"));
        assert!(!accounts.verify("bob", "correct horse battery"));
        assert!(!accounts.verify("ada", &"x".repeat(MAX_PASSWORD + 1)));
        assert!(UiFile::load(&path).unwrap().users[0].password_hash.starts_with("$argon2id$"));
    }

    #[test]
    fn a_bcrypt_hash_is_accepted_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = ui_path(dir.path());
        // What passlib's bcrypt wrote ("$2b$", cost 4 to keep the test short).
        let legacy = bcrypt::hash("old python password", 4).unwrap();
        let file = UiFile {
            jwt_secret: Some(secret('j')),
            users: vec![UserEntry { name: "ada".into(), password_hash: legacy }],
            ..UiFile::default()
        };
        file.save(&path).unwrap();
        let accounts = Accounts::load(&path, None, |_| None).unwrap();
        assert!(!accounts.verify("ada", "wrong"));
        assert!(UiFile::load(&path).unwrap().users[0].password_hash.starts_with("$2b$"));
        assert!(accounts.verify("ada", "old python password"));
        assert!(UiFile::load(&path).unwrap().users[0].password_hash.starts_with("$argon2id$"));
        assert!(accounts.verify("ada", "old python password"));
    }

    #[test]
    fn what_the_ui_refuses_to_start_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = ui_path(dir.path());
        let err = |var: &dyn Fn(&str) -> Option<String>, hmac: Option<&str>| {
            Accounts::load(&path, hmac, var).unwrap_err().to_string()
        };
        assert!(err(&|_| None, None).contains("needs a token secret"), "{}", err(&|_| None, None));
        let env =
            |pairs: Vec<(&'static str, String)>| move |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone());
        let only_secret = env(vec![(JWT_SECRET_VAR, secret('j'))]);
        assert!(err(&only_secret, None).contains("no user"));
        assert!(err(&only_secret, Some(&secret('j'))).contains("must differ"));
        let half = env(vec![(JWT_SECRET_VAR, secret('j')), (ADMIN_USER_VAR, "root".into())]);
        assert!(err(&half, None).contains("go together"));
        let short = env(vec![(JWT_SECRET_VAR, "short".into())]);
        assert!(err(&short, None).contains(JWT_SECRET_VAR));
        let admin = env(vec![
            (JWT_SECRET_VAR, secret('j')),
            (ADMIN_USER_VAR, "root".into()),
            (ADMIN_PASSWORD_VAR, "from the environment".into()),
        ]);
        let accounts = Accounts::load(&path, Some(&secret('h')), admin).unwrap();
        assert!(accounts.verify("root", "from the environment"));
        assert!(!path.exists(), "the environment's user is never written");
    }

    #[test]
    fn a_doubtful_file_is_refused_without_quoting_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = ui_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("jwt_secret = \"{}\"\nusers = 3\n", secret('s'))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = UiFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("corrupt at line 2") && !e.contains("sss"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(UiFile::load(&path).unwrap_err().to_string().contains("0600"));
        assert!(check_username("a b").is_err() && check_username("ops@example.com").is_ok());
        assert!(check_new_password("short").unwrap_err().to_string().contains("password: 10 to 1024"));
    }
}
