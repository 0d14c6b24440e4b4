//! CLI credentials: environment variables first, then a profile in the credentials file.
//!
//! File: `$EPLINK_CONFIG`, else `$XDG_CONFIG_HOME/eplink/credentials.toml`, else
//! `~/.config/eplink/credentials.toml`:
//!
//! ```toml
//! [default]
//! endpoint = "127.0.0.1:8080"
//! access_key_id = "LTAIproviderkey"
//! access_key_secret = "provider-secret-0001"
//! region = "cn-hangzhou"        # optional: default is the daemon's region
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::client::Client;

/// Credential problems.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No key id/secret anywhere.
    #[error(
        "no credentials: set EPLINK_ACCESS_KEY_ID and EPLINK_ACCESS_KEY_SECRET, or a profile in {0}"
    )]
    Missing(String),
    /// The file does not parse.
    #[error("credentials file {0}: {1}")]
    Parse(String, String),
    /// The named profile is absent.
    #[error("profile {0:?} not found in {1}")]
    NoProfile(String, String),
    /// The daemon's region could not be learnt.
    #[error("cannot learn the region from the daemon: {0}")]
    Region(#[source] crate::client::ClientError),
}

/// One profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `host:port`.
    pub endpoint: Option<String>,
    /// AccessKey id.
    pub access_key_id: Option<String>,
    /// AccessKey secret.
    pub access_key_secret: Option<String>,
    /// Region.
    pub region: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port`.
    pub endpoint: String,
    /// AccessKey id.
    pub key_id: String,
    /// AccessKey secret.
    pub secret: String,
    /// Region, if known.
    pub region: Option<String>,
}

fn config_path() -> PathBuf {
    if let Ok(p) = std::env::var("EPLINK_CONFIG") {
        return PathBuf::from(p);
    }
    let base = std::env::var("XDG_CONFIG_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".config"),
        PathBuf::from,
    );
    base.join("eplink").join("credentials.toml")
}

impl Config {
    /// Environment (`EPLINK_ACCESS_KEY_ID`, `EPLINK_ACCESS_KEY_SECRET`, `EPLINK_ENDPOINT`,
    /// `EPLINK_REGION`) over the profile; flags over both.
    pub fn resolve(
        profile: Option<&str>,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let path = config_path();
        let shown = path.display().to_string();
        let mut prof = Profile::default();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut all: BTreeMap<String, Profile> = toml::from_str(&text)
                .map_err(|e| ConfigError::Parse(shown.clone(), e.to_string()))?;
            let name = profile.unwrap_or("default");
            match all.remove(name) {
                Some(p) => prof = p,
                None if profile.is_some() => {
                    return Err(ConfigError::NoProfile(name.into(), shown));
                }
                None => {}
            }
        } else if let Some(name) = profile {
            return Err(ConfigError::NoProfile(name.into(), shown));
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let key_id = env("EPLINK_ACCESS_KEY_ID").or(prof.access_key_id);
        let secret = env("EPLINK_ACCESS_KEY_SECRET").or(prof.access_key_secret);
        let (Some(key_id), Some(secret)) = (key_id, secret) else {
            return Err(ConfigError::Missing(shown));
        };
        Ok(Self {
            endpoint: endpoint
                .map(str::to_owned)
                .or(prof.endpoint)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            key_id,
            secret,
            region: region.map(str::to_owned).or(prof.region),
        })
    }

    /// A client; without a configured region, asks the daemon (DescribeRegions).
    pub fn client(&self) -> Result<Client, ConfigError> {
        if let Some(r) = &self.region {
            return Ok(Client::new(&self.endpoint, &self.key_id, &self.secret, r));
        }
        let probe = Client::new(&self.endpoint, &self.key_id, &self.secret, "");
        let v = probe
            .call("DescribeRegions", &[])
            .map_err(ConfigError::Region)?;
        let r = v["Regions"]["Region"][0]["RegionId"]
            .as_str()
            .ok_or_else(|| {
                ConfigError::Region(crate::client::ClientError::Transport(
                    "DescribeRegions returned no region".into(),
                ))
            })?;
        Ok(Client::new(&self.endpoint, &self.key_id, &self.secret, r))
    }
}
