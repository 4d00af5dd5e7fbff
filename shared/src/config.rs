//! Configuration from the environment, read once at start-up.

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError { name, problem: "is not set".into() })
}

pub fn optional(name: &'static str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().map_err(|_| ConfigError { name, problem: format!("{v:?} is not a whole number") }),
        _ => Ok(default),
    }
}

/// The table name (`ABEV_TABLE`, default `abev`).
pub fn table() -> String {
    optional("ABEV_TABLE", "abev")
}
