//! What the helpers that run a server as a child process share: a free port, and waiting
//! until the child listens on it.

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
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
