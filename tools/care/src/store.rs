//! Where a login is kept: the OS keyring (macOS Keychain, Windows Credential Manager, the
//! Secret Service on Linux desktops) where there is one, else a file only its owner can
//! read (`0600`, in a `0700` directory beside the config file) — and the CLI says which.

use crate::secret::Token;
use crate::CareError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const KEYRING_SERVICE: &str = "abev-care";

/// What a login leaves behind: the refresh token (the long-lived secret), the last ID
/// token and when it expires (seconds since the epoch).
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub refresh_token: Option<String>,
    pub id_token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn bearer(&self) -> Token {
        Token::new(self.id_token.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Keyring,
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Keyring => write!(f, "the OS keyring (service {KEYRING_SERVICE})"),
            Location::File(p) => write!(f, "{} (mode 0600; no OS keyring was available)", p.display()),
        }
    }
}

/// The credential store of one profile.
#[derive(Debug, Clone)]
pub struct Store {
    pub profile: String,
    /// The directory of the file fallback.
    pub dir: PathBuf,
    /// Only the file (`credential_store = "file"`), never the keyring.
    pub file_only: bool,
}

impl Store {
    pub fn file(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.profile))
    }

    fn entry(&self) -> Option<keyring::Entry> {
        if self.file_only {
            return None;
        }
        keyring::Entry::new(KEYRING_SERVICE, &self.profile).ok()
    }

    /// Saves, in the keyring if it takes it, else in the file.
    pub fn save(&self, creds: &Credentials) -> Result<Location, CareError> {
        let json = serde_json::to_string(creds).map_err(|e| CareError::Store(e.to_string()))?;
        if let Some(entry) = self.entry() {
            if entry.set_password(&json).is_ok() {
                let _ = std::fs::remove_file(self.file());
                return Ok(Location::Keyring);
            }
        }
        write_private(&self.file(), &json)?;
        Ok(Location::File(self.file()))
    }

    /// The saved login and where it was, if any.
    pub fn load(&self) -> Result<Option<(Credentials, Location)>, CareError> {
        if let Some(entry) = self.entry() {
            if let Ok(json) = entry.get_password() {
                let creds = serde_json::from_str(&json).map_err(|e| CareError::Store(format!("the keyring entry: {e}")))?;
                return Ok(Some((creds, Location::Keyring)));
            }
        }
        match std::fs::read_to_string(self.file()) {
            Ok(json) => {
                let creds = serde_json::from_str(&json).map_err(|e| CareError::Store(format!("{}: {e}", self.file().display())))?;
                Ok(Some((creds, Location::File(self.file()))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CareError::Store(format!("{}: {e}", self.file().display()))),
        }
    }

    /// Forgets the login everywhere it could be.
    pub fn delete(&self) -> Result<(), CareError> {
        if let Some(entry) = self.entry() {
            let _ = entry.delete_credential();
        }
        match std::fs::remove_file(self.file()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CareError::Store(format!("{}: {e}", self.file().display()))),
        }
    }
}

/// Writes `text` to `path` readable by its owner only (created `0600`, never wider).
fn write_private(path: &Path, text: &str) -> Result<(), CareError> {
    let err = |e: std::io::Error| CareError::Store(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An older file keeps its mode on open: narrow it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_fallback_is_private_and_forgets() {
        let dir = std::env::temp_dir().join(format!("abev-care-store-{}", uuid::Uuid::new_v4()));
        let store = Store { profile: "t".into(), dir: dir.clone(), file_only: true };
        assert!(store.load().unwrap().is_none());
        let creds = Credentials { refresh_token: Some("r".into()), id_token: "i".into(), expires_at: 1 };
        assert_eq!(store.save(&creds).unwrap(), Location::File(dir.join("t.json")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(dir.join("t.json")).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert_eq!(store.load().unwrap().unwrap().0.refresh_token.as_deref(), Some("r"));
        assert!(!format!("{creds:?}").contains('r'.to_string().as_str()) || !format!("{creds:?}").contains("\"r\""));
        store.delete().unwrap();
        assert!(store.load().unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
