//! The command line: `omnibridge serve`, `omnibridge check` and `omnibridge mcp`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// omnibridge: one bus and one API for every customer channel, with payments built in.
#[derive(Debug, Parser)]
#[command(name = "omnibridge", version, about, long_about = None)]
pub struct Cli {
    /// A TOML file layered over the embedded defaults (env `OMNIBRIDGE__SECTION__KEY` wins
    /// over both).
    #[arg(long, global = true, env = "OMNIBRIDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bridge (HTTP server, channels, outbox and webhook workers).
    Serve(ServeArgs),
    /// Validate the configuration and every template, reporting file and line; exit 1 on
    /// any problem.
    Check,
    /// Bring the state store's schema up to date (`storage.state`) and exit: run it once
    /// before rolling a new version out to several instances. `serve` migrates at start too.
    Migrate,
    /// Serve the bridge's MCP (agent) interface over stdio, for desktop agents that launch a
    /// command: relays to `<url>/mcp` with the API key from `OMNIBRIDGE_API_KEY`.
    Mcp(McpArgs),
}

/// Flags of `mcp`.
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The bridge's address, e.g. `http://127.0.0.1:8080` (its `/mcp` endpoint is used).
    #[arg(long, value_name = "URL")]
    pub url: String,
}

/// Flags of `serve` that override config, so a second instance is one flag away.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.bind`).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Directory for the SQLite file and local state (overrides `storage.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
