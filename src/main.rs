//! The `omnibridge` binary: parse the command line, set up logging, load config, run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use omnibridge::cli::{Cli, Command, ServeArgs};
use omnibridge::config::Settings;
use omnibridge::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    omnibridge::telemetry::init();
    let result = match cli.command {
        None => serve(cli.config.as_deref(), ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve(cli.config.as_deref(), args).await,
        Some(Command::Check) => Ok(check(cli.config.as_deref())),
    };
    // One line with the whole cause chain, no backtrace: these are operator errors.
    result.unwrap_or_else(|error| {
        eprintln!("omnibridge: {error:#}");
        ExitCode::FAILURE
    })
}

async fn serve(config: Option<&std::path::Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load(config).context("loading configuration")?;
    if let Some(bind) = args.bind {
        settings.server.bind = bind;
    }
    if let Some(dir) = args.data_dir {
        settings.storage.data_dir = dir;
    }
    let app = Application::build(settings)
        .await
        .context("starting the bridge")?;
    app.run_until_stopped(shutdown_signal())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

fn check(config: Option<&std::path::Path>) -> ExitCode {
    let env: std::collections::HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let report = omnibridge::check::check(config, &env);
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
