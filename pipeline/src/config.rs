//! Configuration: serde structs with `deny_unknown_fields`, the documented default file
//! `mindset.default.toml`, an optional user file, environment overrides
//! (`MINDSET_<SECTION>__<KEY>`), and validation that reports every problem at once.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    embedded::EmbeddedLog,
    kafka::{KafkaLog, KafkaSettings},
    log::Log,
};

/// The documented defaults.
pub const DEFAULT_TOML: &str = include_str!("../mindset.default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Embedded,
    Kafka,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub backend: Backend,
    pub embedded: EmbeddedConfig,
    pub kafka: KafkaConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    pub path: PathBuf,
    /// Page cache of the log, in MiB.
    pub cache_mb: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub replication_factor: i32,
    pub client: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    pub filter: String,
}

/// Every problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

const TOP_KEYS: [&str; 3] = ["data_dir", "log", "telemetry"];

impl Config {
    /// Defaults, then `file` (if any), then `MINDSET_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut merged: toml::Table = DEFAULT_TOML.parse().expect("default config parses");
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => match text.parse::<toml::Table>() {
                    Ok(user) => merge(&mut merged, user),
                    Err(e) => problems.push(format!("{}: {e}", path.display())),
                },
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("MINDSET_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if !TOP_KEYS.contains(&path[0].as_str()) {
                continue;
            }
            // librdkafka properties are strings, whatever they look like (a numeric password).
            let value = if path.starts_with(&["log".into(), "kafka".into(), "client".into()]) {
                toml::Value::String(value)
            } else {
                parse_scalar(&value)
            };
            if let Err(e) = set_path(&mut merged, &path, value) {
                problems.push(format!("{name}: {e}"));
            }
        }
        let config: Option<Config> = match toml::Value::Table(merged).try_into() {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(e.to_string().trim().replace('\n', " "));
                None
            }
        };
        if let Some(c) = &config {
            problems.extend(c.problems());
        }
        match (config, problems.is_empty()) {
            (Some(c), true) => Ok(c),
            _ => Err(ConfigError { problems }),
        }
    }

    /// The defaults alone.
    pub fn defaults() -> Config {
        Config::load(None, std::iter::empty()).expect("defaults are valid")
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            p.push("data_dir must not be empty".into());
        }
        if self.log.embedded.cache_mb == 0 {
            p.push("log.embedded.cache_mb must be at least 1".into());
        }
        if self.log.backend == Backend::Kafka {
            if self.log.kafka.bootstrap_servers.trim().is_empty() {
                p.push("log.kafka.bootstrap_servers must name at least one broker".into());
            }
            if self.log.kafka.replication_factor < 1 {
                p.push("log.kafka.replication_factor must be at least 1".into());
            }
            for k in [
                "enable.auto.commit",
                "enable.idempotence",
                "acks",
                "group.id",
            ] {
                if self.log.kafka.client.contains_key(k) {
                    p.push(format!(
                        "log.kafka.client.{k} is set by Mindset for its delivery guarantees and cannot be overridden"
                    ));
                }
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.filter).is_err() {
            p.push(format!(
                "telemetry.filter {:?} is not a valid filter",
                self.telemetry.filter
            ));
        }
        p
    }

    /// The embedded log's file.
    pub fn embedded_path(&self) -> PathBuf {
        if self.log.embedded.path.as_os_str().is_empty() {
            self.data_dir.join("log.redb")
        } else {
            self.log.embedded.path.clone()
        }
    }

    /// Open the configured log.
    pub fn open_log(&self) -> Result<Log, crate::log::LogError> {
        Ok(match self.log.backend {
            Backend::Embedded => Log::Embedded(EmbeddedLog::open_with_cache(
                self.embedded_path(),
                self.log.embedded.cache_mb << 20,
            )?),
            Backend::Kafka => Log::Kafka(KafkaLog::new(KafkaSettings {
                bootstrap_servers: self.log.kafka.bootstrap_servers.clone(),
                client: self.log.kafka.client.clone(),
                replication_factor: self.log.kafka.replication_factor,
            })),
        })
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn parse_scalar(s: &str) -> toml::Value {
    match format!("v = {s}").parse::<toml::Table>() {
        Ok(mut t) if !matches!(t.get("v"), Some(toml::Value::Table(_))) => {
            t.remove("v").expect("parsed")
        }
        _ => toml::Value::String(s.to_owned()),
    }
}

fn set_path(t: &mut toml::Table, path: &[String], v: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("non-empty");
    let mut cur = t;
    for p in parents {
        cur = match cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => t,
            _ => return Err(format!("{p} is not a section")),
        };
    }
    cur.insert(last.clone(), v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_embedded() {
        let c = Config::defaults();
        assert_eq!(c.log.backend, Backend::Embedded);
        assert_eq!(c.embedded_path(), PathBuf::from(".mindset/log.redb"));
        assert_eq!(
            c.log.embedded.cache_mb << 20,
            crate::embedded::DEFAULT_CACHE_BYTES
        );
        let none = Config::load(None, env(&[("MINDSET_LOG__EMBEDDED__CACHE_MB", "0")]));
        assert!(none.unwrap_err().to_string().contains("cache_mb"));
    }

    #[test]
    fn env_overrides_nested_keys_and_ignores_other_variables() {
        let c = Config::load(
            None,
            env(&[
                ("MINDSET_LOG__BACKEND", "kafka"),
                ("MINDSET_LOG__KAFKA__BOOTSTRAP_SERVERS", "b1:9092,b2:9092"),
                ("MINDSET_LOG__KAFKA__REPLICATION_FACTOR", "3"),
                ("MINDSET_LOG__KAFKA__CLIENT__security.protocol", "SASL_SSL"),
                ("MINDSET_LOG__KAFKA__CLIENT__sasl.password", "12345"),
                ("MINDSET_CACHE", "/tmp/x"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.log.backend, Backend::Kafka);
        assert_eq!(c.log.kafka.bootstrap_servers, "b1:9092,b2:9092");
        assert_eq!(c.log.kafka.replication_factor, 3);
        assert_eq!(c.log.kafka.client["security.protocol"], "SASL_SSL");
        assert_eq!(c.log.kafka.client["sasl.password"], "12345");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.toml");
        std::fs::write(
            &f,
            "[log]\nbackend = \"kafka\"\n[log.kafka]\nbootstrap_servers = \"\"\nreplication_factor = 0\n[log.kafka.client]\n\"enable.auto.commit\" = \"true\"\n",
        )
        .unwrap();
        let err =
            Config::load(Some(&f), env(&[("MINDSET_TELEMETRY__FILTER", "=[bad")])).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let unknown = Config::load(None, env(&[("MINDSET_LOG__KAFAK__X", "1")])).unwrap_err();
        assert!(unknown.to_string().contains("kafak"), "{unknown}");
    }
}
