//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or,
//! with `OMNIBRIDGE_LOG_FORMAT=json`, one JSON object per line.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterFn, filter_fn};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Targets whose TRACE events are protocol wire dumps: `async_imap` traces every command it
/// sends (`LOGIN "user" "password"`, `AUTHENTICATE` tokens) and every answer (whole mails).
/// They are never logged, whatever `RUST_LOG` says; their DEBUG and above still are.
pub const WIRE_DUMP_TARGETS: &[&str] = &["async_imap"];

/// Drops TRACE events of [`WIRE_DUMP_TARGETS`].
fn no_wire_dumps() -> FilterFn {
    filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE
            || !WIRE_DUMP_TARGETS
                .iter()
                .any(|target| meta.target().starts_with(target))
    })
}

/// Installs the global subscriber; call once, at the start of `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("OMNIBRIDGE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr.with_max_level(tracing::Level::TRACE));
    let result = if json {
        builder.json().finish().with(no_wire_dumps()).try_init()
    } else {
        builder.finish().with(no_wire_dumps()).try_init()
    };
    if result.is_err() {
        eprintln!("omnibridge: a log subscriber was already installed");
    }
}
