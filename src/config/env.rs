//! A figment provider over an explicit list of environment variables, so tests can pass
//! their own list instead of mutating the process environment.
//!
//! `OMNIBRIDGE__SERVER__BIND=0.0.0.0:9000` sets `server.bind`: the prefix is stripped, the
//! rest is lowercased and split on `__`. Values are parsed like figment's `Env` provider
//! (`2000` is a number, `true` a bool, `["a","b"]` an array, anything else a string).

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// The prefix of config env vars.
pub(crate) const PREFIX: &str = "OMNIBRIDGE__";

/// `OMNIBRIDGE__*` variables as a figment provider.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    dict: Dict,
}

impl EnvVars {
    /// Keeps the `OMNIBRIDGE__` variables of `vars`.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> EnvVars {
        let mut dict = Dict::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                continue;
            }
            let parsed = value
                .parse::<Value>()
                .unwrap_or_else(|_| Value::from(value.clone()));
            insert(&mut dict, &path, parsed);
        }
        EnvVars { dict }
    }

    /// The env var that sets a dotted key: `server.bind` → `OMNIBRIDGE__SERVER__BIND`.
    pub fn var_for(key: &str) -> String {
        format!("{PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
    }
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(super::ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}
