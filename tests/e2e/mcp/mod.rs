//! The MCP (agent) interface from the outside: the official Python MCP SDK (installed from
//! PyPI by `scripts/install-test-deps`) drives the real binary over Streamable HTTP and over
//! the stdio command, while the test plays the customer in the web-chat widget.

mod flow;
mod guardrails;

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The Python with the `mcp` SDK: `OMNIBRIDGE_MCP_PYTHON`, else the venv the test scripts
/// install under `~/.cache/omnibridge-mcp`.
pub fn python() -> PathBuf {
    if let Ok(path) = std::env::var("OMNIBRIDGE_MCP_PYTHON") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap();
    let path = PathBuf::from(home).join(".cache/omnibridge-mcp/bin/python");
    assert!(
        path.exists(),
        "the Python MCP SDK is missing: run scripts/install-test-deps (it creates {})",
        path.display()
    );
    path
}

/// `tests/mcp/agent.py`.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/agent.py")
}

/// The agent script running `args` against `bridge` with `key`, stdout piped line by line.
pub fn agent(
    transport: &str,
    bridge: &str,
    key: &str,
    args: &[&str],
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(python())
        .arg(script())
        .args(args)
        .args([
            "--transport",
            transport,
            "--bridge",
            bridge,
            "--binary",
            env!("CARGO_BIN_EXE_omnibridge"),
        ])
        .env("OMNIBRIDGE_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Runs the agent script to the end and returns its last JSON line.
pub async fn agent_once(transport: &str, bridge: &str, key: &str, args: &[&str]) -> Value {
    let (mut child, mut lines) = agent(transport, bridge, key, args);
    let mut last = Value::Null;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            last = serde_json::from_str(&line).unwrap_or(Value::String(line));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(90), read)
        .await
        .expect("the agent script finished in time");
    let status = child.wait().await.unwrap();
    assert!(
        status.success(),
        "agent script failed: {status}; last line {last}"
    );
    last
}

/// `call <tool> <json>` through the Python SDK; the tool result (`is_error`, `structured`,
/// `text`).
pub async fn call(transport: &str, bridge: &str, key: &str, tool: &str, arguments: Value) -> Value {
    let arguments = arguments.to_string();
    agent_once(transport, bridge, key, &["call", tool, &arguments]).await
}
