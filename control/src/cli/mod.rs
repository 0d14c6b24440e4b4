//! The `eplink` command line: clap command tree, credentials, output and exit codes.
//!
//! Each top-level group is one variant of [`Command`] with its own module; adding a group
//! (e.g. `maps`, `flows`, `top`) is a new variant plus a new arm in [`run`].

mod api_cmds;
mod config;
pub mod output;

use clap::{Parser, Subcommand};

pub use api_cmds::{
    ConnectionCmd, EndpointCmd, ResourceCmd, ServiceCmd, WhitelistCmd, ZoneConnectionCmd,
};
pub use config::{Config, ConfigError};

use crate::client::ClientError;

/// Exit codes scripts can rely on.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The API refused the call (4xx other than the cases below).
    pub const REFUSED: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// Authentication failed (unknown key, bad signature, clock skew).
    pub const AUTH: i32 = 3;
    /// The object does not exist (404).
    pub const NOT_FOUND: i32 = 4;
    /// The daemon could not be reached, or failed (5xx).
    pub const UNAVAILABLE: i32 = 5;
    /// No usable credentials or profile.
    pub const CONFIG: i32 = 6;
}

/// eplink: share services privately across VPCs.
#[derive(Debug, Parser)]
#[command(name = "eplink", version, about, propagate_version = true)]
pub struct Cli {
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Profile in the credentials file.
    #[arg(long, global = true, env = "EPLINK_PROFILE")]
    pub profile: Option<String>,
    /// API endpoint `host:port` (overrides the profile).
    #[arg(
        long = "endpoint",
        id = "api_endpoint",
        global = true,
        env = "EPLINK_ENDPOINT"
    )]
    pub api_endpoint: Option<String>,
    /// Region (overrides the profile; default: the daemon's region).
    #[arg(long, global = true, env = "EPLINK_REGION")]
    pub region: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Endpoint services (provider).
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Who may discover and connect to a service (provider).
    #[command(subcommand)]
    Whitelist(WhitelistCmd),
    /// Service resources: load balancers attached per zone (provider).
    #[command(subcommand)]
    Resource(ResourceCmd),
    /// Endpoint connections: allow, reject, bandwidth (provider).
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// Zone connections: disconnect, reconnect, (re)allocate (provider).
    #[command(subcommand, name = "zone-connection")]
    ZoneConnection(ZoneConnectionCmd),
    /// Interface endpoints (consumer).
    #[command(subcommand)]
    Endpoint(EndpointCmd),
    /// Regions this installation serves.
    Regions,
    /// Zones of the region.
    Zones,
}

/// A failure with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The API call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Bad argument value.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code for this failure.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(ConfigError::Region(e)) | Self::Client(e) => client_exit(e),
            Self::Config(_) => exit::CONFIG,
            Self::Usage(_) => exit::USAGE,
        }
    }
}

fn client_exit(e: &ClientError) -> i32 {
    match e {
        ClientError::Transport(_) => exit::UNAVAILABLE,
        ClientError::Api { status, code, .. } => match (*status, code.as_str()) {
            (
                _,
                "InvalidAccessKeyId.NotFound"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "InvalidTimeStamp.Expired",
            ) => exit::AUTH,
            (404, _) => exit::NOT_FOUND,
            (500.., _) => exit::UNAVAILABLE,
            _ => exit::REFUSED,
        },
    }
}

/// Runs a parsed command line, printing to stdout. Returns the exit code.
pub fn run(cli: &Cli) -> Result<(), CliError> {
    let cfg = Config::resolve(
        cli.profile.as_deref(),
        cli.api_endpoint.as_deref(),
        cli.region.as_deref(),
    )?;
    let client = cfg.client()?;
    let out = output::Output { json: cli.json };
    match &cli.command {
        Command::Service(c) => api_cmds::service(&client, out, c),
        Command::Whitelist(c) => api_cmds::whitelist(&client, out, c),
        Command::Resource(c) => api_cmds::resource(&client, out, c),
        Command::Connection(c) => api_cmds::connection(&client, out, c),
        Command::ZoneConnection(c) => api_cmds::zone_connection(&client, out, c),
        Command::Endpoint(c) => api_cmds::endpoint(&client, out, c),
        Command::Regions => api_cmds::regions(&client, out),
        Command::Zones => api_cmds::zones(&client, out),
    }
}
