//! Each function's settings: one typed struct per function, read from the environment once
//! at start-up (`from_env`), or built by the local host and tests from their own names.
//! The variable names are the ones template.yaml sets (checked by the template wiring test).

use crate::config::ConfigError;

/// The view function: `ABEV_TABLE` (default `abev`), `ABEV_CURSOR_SECRET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSettings {
    pub table: String,
    pub cursor_secret: String,
}

/// The access function: `ABEV_TABLE`, `ABEV_CURSOR_SECRET`, `ABEV_CARE_QUEUE_URL`,
/// `ABEV_ADMIN_SLA_DAYS` (default 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    pub table: String,
    pub cursor_secret: String,
    pub care_queue_url: String,
    pub admin_sla_days: u64,
}

/// The order ingestion function: `ABEV_TABLE`, `ABEV_ORDERS_DLQ_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    pub table: String,
    pub orders_dlq_url: String,
}

pub const DEFAULT_TABLE: &str = "abev";
pub const DEFAULT_ADMIN_SLA_DAYS: u64 = 14;

/// Reads variables through `get` (the process environment in `from_env`).
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError { name, problem: "is not set".into() })
    }

    fn table(&self) -> String {
        self.get("ABEV_TABLE").unwrap_or_else(|| DEFAULT_TABLE.into())
    }

    fn days(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|d| *d >= 1)
                .ok_or_else(|| ConfigError { name, problem: format!("{v:?} is not a whole number of days (1 or more)") }),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl ViewSettings {
    pub fn from_env() -> Result<ViewSettings, ConfigError> {
        Self::from_vars(&env)
    }

    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<ViewSettings, ConfigError> {
        let v = Vars(get);
        Ok(ViewSettings { table: v.table(), cursor_secret: v.required("ABEV_CURSOR_SECRET")? })
    }
}

impl AccessSettings {
    pub fn from_env() -> Result<AccessSettings, ConfigError> {
        Self::from_vars(&env)
    }

    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<AccessSettings, ConfigError> {
        let v = Vars(get);
        Ok(AccessSettings {
            table: v.table(),
            cursor_secret: v.required("ABEV_CURSOR_SECRET")?,
            care_queue_url: v.required("ABEV_CARE_QUEUE_URL")?,
            admin_sla_days: v.days("ABEV_ADMIN_SLA_DAYS", DEFAULT_ADMIN_SLA_DAYS)?,
        })
    }

    /// What the view function needs of these (the local host serves both from one process).
    pub fn view(&self) -> ViewSettings {
        ViewSettings { table: self.table.clone(), cursor_secret: self.cursor_secret.clone() }
    }
}

impl IngestSettings {
    pub fn from_env() -> Result<IngestSettings, ConfigError> {
        Self::from_vars(&env)
    }

    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<IngestSettings, ConfigError> {
        let v = Vars(get);
        Ok(IngestSettings { table: v.table(), orders_dlq_url: v.required("ABEV_ORDERS_DLQ_URL")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn each_function_reads_what_it_needs_and_nothing_else() {
        let all = vars(&[
            ("ABEV_TABLE", "t"),
            ("ABEV_CURSOR_SECRET", "s"),
            ("ABEV_CARE_QUEUE_URL", "q"),
            ("ABEV_ADMIN_SLA_DAYS", "3"),
            ("ABEV_ORDERS_DLQ_URL", "d"),
        ]);
        assert_eq!(ViewSettings::from_vars(&all).unwrap(), ViewSettings { table: "t".into(), cursor_secret: "s".into() });
        let access = AccessSettings::from_vars(&all).unwrap();
        assert_eq!((access.care_queue_url.as_str(), access.admin_sla_days), ("q", 3));
        assert_eq!(access.view(), ViewSettings::from_vars(&all).unwrap());
        assert_eq!(IngestSettings::from_vars(&all).unwrap().orders_dlq_url, "d");
        // The view needs no Care queue.
        assert!(ViewSettings::from_vars(&vars(&[("ABEV_CURSOR_SECRET", "s")])).is_ok());
    }

    #[test]
    fn defaults_and_refusals() {
        let minimal = vars(&[("ABEV_CURSOR_SECRET", "s"), ("ABEV_CARE_QUEUE_URL", "q")]);
        let access = AccessSettings::from_vars(&minimal).unwrap();
        assert_eq!((access.table.as_str(), access.admin_sla_days), (DEFAULT_TABLE, DEFAULT_ADMIN_SLA_DAYS));
        assert_eq!(ViewSettings::from_vars(&vars(&[])).unwrap_err().name, "ABEV_CURSOR_SECRET");
        assert_eq!(AccessSettings::from_vars(&vars(&[("ABEV_CURSOR_SECRET", "s")])).unwrap_err().name, "ABEV_CARE_QUEUE_URL");
        assert_eq!(IngestSettings::from_vars(&vars(&[])).unwrap_err().name, "ABEV_ORDERS_DLQ_URL");
        for bad in ["0", "-1", "two", "1.5"] {
            let v = vars(&[("ABEV_CURSOR_SECRET", "s"), ("ABEV_CARE_QUEUE_URL", "q"), ("ABEV_ADMIN_SLA_DAYS", bad)]);
            assert_eq!(AccessSettings::from_vars(&v).unwrap_err().name, "ABEV_ADMIN_SLA_DAYS", "{bad}");
        }
    }
}
