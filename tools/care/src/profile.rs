//! Profiles: `~/.config/abev/config.toml` (or `--config`), one table per deployment.
//!
//! ```toml
//! [profiles.default]                        # used without --profile
//! api = "http://127.0.0.1:3000"
//! issuer = "http://127.0.0.1:3000/local/oidc"
//! client_id = "abev-care"
//!
//! [profiles.prod]
//! api = "https://abc123.execute-api.eu-west-1.amazonaws.com"
//! issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_XXXX"
//! client_id = "1example23456789"
//! queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/abev-prod-care"
//! redirect_port = 8765                      # when the provider wants one fixed callback URL
//! ```
//!
//! Without a file (or without `[profiles.default]`), `default` is the local host of
//! `make dev`. Endpoints come from the issuer's discovery document; `authorize_endpoint`,
//! `token_endpoint` and `revocation_endpoint` override it (Cognito's document names no
//! revocation endpoint: `https://{domain}/oauth2/revoke`).

use crate::CareError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const LOCAL_API: &str = "http://127.0.0.1:3000";

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip)]
    pub name: String,
    pub api: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub queue_url: Option<String>,
    pub authorize_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    /// A fixed loopback port for the sign-in's redirect (default: any free port, RFC 8252).
    pub redirect_port: Option<u16>,
    /// `keyring` (default: the OS keyring where there is one) or `file` (a 0600 file).
    pub credential_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// `$XDG_CONFIG_HOME/abev/config.toml`, else `~/.config/abev/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("abev").join("config.toml"))
}

impl Profile {
    /// The local host's profile (`make dev`).
    pub fn local() -> Profile {
        Profile {
            name: "default".into(),
            api: Some(LOCAL_API.into()),
            issuer: Some(format!("{LOCAL_API}/local/oidc")),
            client_id: Some("abev-care".into()),
            ..Profile::default()
        }
    }

    /// The profile `name` from the file at `path`; `default` falls back to the local host.
    pub fn load(path: Option<&Path>, name: &str) -> Result<Profile, CareError> {
        let text = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(CareError::Usage(format!("reading {}: {e}", p.display()))),
            },
            None => None,
        };
        let file: ConfigFile = match &text {
            Some(t) => toml::from_str(t)
                .map_err(|e| CareError::Usage(format!("{}: {}", path.map(|p| p.display().to_string()).unwrap_or_default(), e.message())))?,
            None => ConfigFile::default(),
        };
        match file.profiles.get(name) {
            Some(p) => {
                let mut p = p.clone();
                p.name = name.to_string();
                if let Some(store) = &p.credential_store {
                    if store != "keyring" && store != "file" {
                        return Err(CareError::Usage(format!("profile {name}: credential_store must be keyring or file")));
                    }
                }
                Ok(p)
            }
            None if name == "default" => Ok(Profile::local()),
            None => Err(CareError::Usage(format!(
                "no profile {name:?} in {}",
                path.map(|p| p.display().to_string()).unwrap_or_else(|| "the config file".into())
            ))),
        }
    }
}

/// Refuses plain http except to this machine: a token must never cross a network in clear.
pub fn require_safe_url(what: &str, url: &str) -> Result<(), CareError> {
    let parsed = url::Url::parse(url).map_err(|e| CareError::Usage(format!("{what} {url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err(CareError::Usage(format!("{what} {url} is refused: use https (plain http only to localhost)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_load_and_default_is_the_local_host() {
        let dir = std::env::temp_dir().join(format!("abev-care-profile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        assert_eq!(Profile::load(Some(&path), "default").unwrap(), Profile::local(), "no file: the local host");
        std::fs::write(&path, "[profiles.prod]\napi = \"https://api.example\"\nissuer = \"https://idp.example\"\nclient_id = \"c1\"\n")
            .unwrap();
        let prod = Profile::load(Some(&path), "prod").unwrap();
        assert_eq!((prod.name.as_str(), prod.api.as_deref(), prod.client_id.as_deref()), ("prod", Some("https://api.example"), Some("c1")));
        assert!(matches!(Profile::load(Some(&path), "staging"), Err(CareError::Usage(_))));
        std::fs::write(&path, "[profiles.x]\napi = 3\n").unwrap();
        assert!(matches!(Profile::load(Some(&path), "x"), Err(CareError::Usage(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plain_http_only_to_localhost() {
        assert!(require_safe_url("API", "https://api.example").is_ok());
        assert!(require_safe_url("API", "http://127.0.0.1:3000").is_ok());
        assert!(require_safe_url("API", "http://localhost:3000").is_ok());
        assert!(require_safe_url("API", "http://api.example").is_err());
        assert!(require_safe_url("API", "http://127.0.0.1.evil.example").is_err());
        assert!(require_safe_url("API", "ftp://x").is_err());
    }
}
