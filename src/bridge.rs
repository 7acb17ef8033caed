//! The bridge as a library: the stock `omnibridge` binary and a business's own binary with
//! its own channel kinds are both `main` + [`Bridge`], sharing the command line (`serve`,
//! `check`, `--config`, `--bind`, `--data-dir`).
//!
//! ```no_run
//! # use omnibridge::Bridge;
//! # #[derive(Default)] struct AcmeSmsFactory;
//! # impl omnibridge_sdk::ChannelFactory for AcmeSmsFactory {
//! #     const KIND: &'static str = "acme-sms";
//! #     type Config = serde_json::Value;
//! #     fn build(&self, _: serde_json::Value, _: &omnibridge_sdk::ChannelContext)
//! #         -> Result<std::sync::Arc<dyn omnibridge_sdk::Channel>, omnibridge_sdk::ChannelError> {
//! #         Err(omnibridge_sdk::ChannelError::config("", "example"))
//! #     }
//! # }
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     Bridge::new().with_channel_factory(AcmeSmsFactory).run().await
//! }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use omnibridge_sdk::ChannelFactory;

use crate::channels::ChannelFactories;
use crate::cli::{Cli, Command, ServeArgs};
use crate::config::Settings;
use crate::startup::{Application, ChannelSetup};

/// A bridge binary in the making: the built-in channel kinds plus the ones added here.
#[derive(Clone, Debug)]
pub struct Bridge {
    factories: ChannelFactories,
}

impl Default for Bridge {
    fn default() -> Self {
        Self::new()
    }
}

impl Bridge {
    /// The stock bridge: every built-in channel kind.
    pub fn new() -> Self {
        Self {
            factories: ChannelFactories::builtin(),
        }
    }

    /// Adds a channel kind: `[[channels]]` tables with `type = F::KIND` are built by
    /// `factory` in `serve` and checked by it in `check`.
    pub fn with_channel_factory<F: ChannelFactory>(mut self, factory: F) -> Self {
        self.factories.register(factory);
        self
    }

    /// The channel kinds this bridge knows.
    pub fn factories(&self) -> &ChannelFactories {
        &self.factories
    }

    /// Parses the process's command line, sets up logging, and runs the command; the exit
    /// code says whether it worked. Errors are printed as one line with their causes.
    pub async fn run(self) -> ExitCode {
        self.run_with(Cli::parse()).await
    }

    /// Runs an already parsed command line.
    pub async fn run_with(self, cli: Cli) -> ExitCode {
        crate::telemetry::init();
        let config = cli.config.as_deref();
        let result = match cli.command {
            None => self.serve(config, ServeArgs::default()).await,
            Some(Command::Serve(args)) => self.serve(config, args).await,
            Some(Command::Check) => Ok(self.check(config)),
            Some(Command::Migrate) => migrate(config).await,
            Some(Command::Mcp(args)) => {
                let key = std::env::var(crate::mcp_stdio::API_KEY_ENV).ok();
                crate::mcp_stdio::run(&args.url, key)
                    .await
                    .map(|()| ExitCode::SUCCESS)
                    .map_err(anyhow::Error::from)
            }
        };
        // One line with the whole cause chain, no backtrace: these are operator errors.
        result.unwrap_or_else(|error| {
            eprintln!("omnibridge: {error:#}");
            ExitCode::FAILURE
        })
    }

    async fn serve(self, config: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
        let mut settings = Settings::load(config).context("loading configuration")?;
        if let Some(bind) = args.bind {
            settings.server.bind = bind;
        }
        if let Some(dir) = args.data_dir {
            settings.storage.data_dir = dir;
        }
        let setup = ChannelSetup {
            factories: self.factories,
            ..ChannelSetup::default()
        };
        let app = Application::build_with(settings, setup)
            .await
            .context("starting the bridge")?;
        app.run_until_stopped(shutdown_signal())
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    }

    fn check(&self, config: Option<&Path>) -> ExitCode {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let report = crate::check::check_with(config, &env, &self.factories);
        for problem in &report.problems {
            eprintln!("{problem}");
        }
        for missing in &report.missing {
            eprintln!(
                "{}: env var {} is not set (serve needs it)",
                missing.key, missing.var
            );
        }
        if report.is_ok() {
            let dir = report.templates_dir.unwrap_or_default();
            println!("config and templates OK ({})", dir.display());
            return ExitCode::SUCCESS;
        }
        if !report.missing.is_empty() {
            let names: Vec<&str> = report.missing.iter().map(|m| m.var.as_str()).collect();
            eprintln!("unset secret env vars: {}", names.join(", "));
        }
        eprintln!(
            "{} problem(s) found",
            report.problems.len() + report.missing.len()
        );
        ExitCode::FAILURE
    }
}

/// Resolves on Ctrl-C or SIGTERM.
/// `omnibridge migrate`: brings the state store's schema up to date and says what it did.
async fn migrate(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config).context("loading configuration")?;
    let done = crate::startup::migrate_state(&settings)
        .await
        .context("migrating")?;
    println!("{done}");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
