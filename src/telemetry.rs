//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or,
//! with `OMNIBRIDGE_LOG_FORMAT=json`, one JSON object per line. Colours only when stderr is a
//! terminal and `NO_COLOR` is unset or empty, so a log file or a pipe gets plain text.

use std::io::IsTerminal;

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
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
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

/// Whether to colour: a terminal, and `NO_COLOR` (<https://no-color.org>) unset or empty.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".as_ref())));
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None));
    }
}
