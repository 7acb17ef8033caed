//! Shared strategies and the no-hang harness.

use std::fmt::Debug;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Map, Value};

/// How long one case may take before it counts as a hang (debug build, loaded machine).
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Proptest settings: `cases` scaled by `FUZZ_CASES_FACTOR` (default 1).
pub fn config(cases: u32) -> Config {
    let factor = std::env::var("FUZZ_CASES_FACTOR")
        .ok()
        .and_then(|f| f.parse::<u32>().ok())
        .unwrap_or(1);
    Config {
        cases: cases.saturating_mul(factor),
        max_shrink_iters: 256,
        // A failure is saved next to its test file (`tests/fuzz/<target>.proptest-regressions`,
        // committed) and replayed first on every later run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Runs `f` on its own thread; a panic there is re-raised here, and not finishing within
/// [`DEADLINE`] is a failure naming `what` (a hang).
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {DEADLINE:?}"),
    }
}

/// Like [`within`] for an input shown in the failure.
pub fn no_hang<I: Debug + Send + 'static, T: Send + 'static>(
    what: &str,
    input: I,
    f: impl FnOnce(I) -> T + Send + 'static,
) -> T {
    within(&format!("{what} on {input:?}"), move || f(input))
}

/// Any string, from any chars (no regex feature needed).
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Short strings from a given alphabet.
pub fn text_of(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(String::from_iter)
}

/// A string that is sometimes one of `words`, sometimes anything.
pub fn word(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(words).prop_map(str::to_owned),
        1 => text(12),
    ]
}

/// Arbitrary JSON, at most `depth` levels, keys drawn mostly from `keys`.
pub fn json(keys: &'static [&'static str], depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word(keys).prop_map(Value::from),
        text_of("0123456789", 24).prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((word(keys), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// Either the valid-looking value or arbitrary JSON in its place (type confusion).
pub fn or_garbage(
    valid: impl Strategy<Value = Value> + 'static,
    keys: &'static [&'static str],
) -> BoxedStrategy<Value> {
    prop_oneof![4 => valid, 1 => json(keys, 2)].boxed()
}
