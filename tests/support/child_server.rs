//! What the helpers that run a server as a child process share: a free port, and waiting
//! until the child listens on it.

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// The ports [`free_port`] hands out: below the kernel's ephemeral range (32768-60999 on
/// Linux), so a port handed to a child process is never meanwhile given by the kernel to
/// another test's `bind(0)` listener or to an outgoing connection.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port nobody listens on right now, picked at random from [`TEST_PORTS`] (tests run as
/// separate processes, so a random start keeps two of them from trying the same ports).
pub(crate) fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    // The ports this process handed out already: not yet bound by their child, maybe.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
    let start = hasher.finish() % span;
    for step in 0..span {
        let offset = u16::try_from((start + step * 7_919) % span).expect("below the span");
        let port = TEST_PORTS.start + offset;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Waits (up to `within`, checking every `every`) until `child`, the server `name`, accepts
/// connections on `port`; an error when it exits first (the port was taken, say) or never does.
pub(crate) fn wait_listening(
    child: &mut Child,
    port: u16,
    name: &str,
    within: Duration,
    every: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited with {status} (port taken?)"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(every);
    }
    Err(format!("no connection after {} s", within.as_secs()))
}
