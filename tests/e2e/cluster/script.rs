//! `scripts/cluster` as the README shows it, with this build's binary on free ports and a
//! fresh PostgreSQL database: in the foreground it brings up PostgreSQL state, Redis, S3
//! (moto), three instances and HAProxy, serving a web-chat reply through the balancer;
//! `status` lists them; `roll` restarts them one at a time while requests through HAProxy
//! keep succeeding; Ctrl-C stops everything; `start -d` starts again on the same dir and
//! `stop` stops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::webchat::replies_reach_the_socket;
use crate::process::free_port;
use crate::support::postgres::PgDatabase;
use crate::visitor::Visitor;

/// The ports of one run: HAProxy, its stats page, and the first of three instance ports.
struct Ports {
    proxy: u16,
    stats: u16,
    first: u16,
}

/// Three consecutive free ports for the instances, and two more.
fn ports() -> Ports {
    loop {
        let first = free_port();
        let free = (1..3).all(|i| {
            first
                .checked_add(i)
                .is_some_and(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        });
        if free {
            return Ports {
                proxy: free_port(),
                stats: free_port(),
                first,
            };
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster")
}

/// `scripts/cluster` with the run's knobs.
fn cluster(dir: &Path, ports: &Ports, database: &PgDatabase) -> Command {
    let mut command = Command::new(script());
    command
        .env("CLUSTER_DIR", dir)
        .env("CLUSTER_PORT", ports.proxy.to_string())
        .env("CLUSTER_STATS_PORT", ports.stats.to_string())
        .env("CLUSTER_FIRST_PORT", ports.first.to_string())
        .env("CLUSTER_POSTGRES_URL", database.url())
        .env("CLUSTER_MEDIA", "s3")
        .env("OMNIBRIDGE_BIN", env!("CARGO_BIN_EXE_omnibridge"))
        .env("OMNIBRIDGE_API_KEYS", super::KEY)
        .env_remove("CLUSTER_REDIS_PORT")
        .env_remove("CLUSTER_CONFIG")
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command, what: &str) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "scripts/cluster {what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits (60 s at most: a busy machine starts a cluster slowly) until `url` answers 200.
async fn wait_ok(url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(answer) = reqwest::get(url).await
            && answer.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether something listens on `port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The subcommands of the README's `scripts/cluster` block (`start` for none).
fn readme_subcommands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("### A local cluster: `scripts/cluster`")
        .nth(1)
        .expect("the README's scripts/cluster section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("its sh block");
    block
        .lines()
        .filter_map(|line| line.strip_prefix("scripts/cluster"))
        .map(|rest| {
            let words: Vec<&str> = rest
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if words.is_empty() {
                "start".to_owned()
            } else {
                words.join(" ")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_script_starts_rolls_and_stops_as_the_readme_says() {
    let ran = ["start", "status", "roll", "start -d", "stop"];
    for subcommand in readme_subcommands() {
        assert!(
            ran.contains(&subcommand.as_str()),
            "the README shows `scripts/cluster {subcommand}`, which this test does not run"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let database = PgDatabase::create();
    let ports = ports();
    let base = format!("http://127.0.0.1:{}", ports.proxy);
    let began = std::time::Instant::now();

    // In the foreground, as `scripts/cluster` with no argument.
    let out = dir.path().join("foreground.out");
    let mut foreground = cluster(dir.path(), &ports, &database)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path().join("foreground.err")).unwrap())
        .spawn()
        .unwrap();
    wait_ok(&format!("{base}/readyz")).await;
    for i in 0..3 {
        wait_ok(&format!("http://127.0.0.1:{}/readyz", ports.first + i)).await;
    }
    let logs = dir.path().join("logs");
    for name in ["a", "b", "c"] {
        let log = std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap();
        assert!(log.contains("State in PostgreSQL."), "{name}: {log}");
        assert!(log.contains("media in object storage"), "{name}: {log}");
    }
    let mut visitor = Visitor::open(&base).await;
    visitor.say("hello through the cluster").await;
    replies_reach_the_socket(&mut visitor, &base, super::KEY, 3).await;
    drop(visitor);
    eprintln!("started in the foreground: {:?}", began.elapsed());

    let status = run(cluster(dir.path(), &ports, &database), "status");
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains(&base), "{status}");
    for i in 0..3 {
        assert!(
            status.contains(&format!("127.0.0.1:{}", ports.first + i)),
            "{status}"
        );
    }

    // Roll the instances while requests go through HAProxy.
    let requests = tokio::spawn({
        let base = base.clone();
        async move {
            let client = reqwest::Client::new();
            let mut failed = Vec::new();
            for _ in 0..400 {
                match client.get(format!("{base}/readyz")).send().await {
                    Ok(answer) if answer.status() == 200 => {}
                    Ok(answer) => failed.push(answer.status().to_string()),
                    Err(error) => failed.push(error.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failed
        }
    });
    let mut roll = cluster(dir.path(), &ports, &database);
    roll.env_remove("OMNIBRIDGE_BIN").arg("roll");
    let rolled = tokio::task::spawn_blocking(move || run(roll, "roll"))
        .await
        .unwrap();
    let failed = requests.await.unwrap();
    assert!(
        failed.is_empty(),
        "requests failed during the roll: {failed:?}"
    );
    let rolled = String::from_utf8_lossy(&rolled.stderr).into_owned();
    assert_eq!(rolled.matches("restarted").count(), 3, "{rolled}");

    eprintln!("rolled: {:?}", began.elapsed());
    // Ctrl-C stops everything.
    let pid = foreground.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = tokio::task::spawn_blocking(move || foreground.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!stopped.success(), "interrupted: {stopped}");
    for port in [ports.proxy, ports.first, ports.first + 1, ports.first + 2] {
        assert!(!listening(port), "port {port} still listens after Ctrl-C");
    }

    eprintln!("stopped by Ctrl-C: {:?}", began.elapsed());
    // In the background on the same dir (the database exists now), then stopped.
    let mut start = cluster(dir.path(), &ports, &database);
    start.args(["start", "-d"]);
    run(start, "start -d");
    wait_ok(&format!("{base}/readyz")).await;
    let mut stop = cluster(dir.path(), &ports, &database);
    stop.arg("stop");
    run(stop, "stop");
    for port in [ports.proxy, ports.first, ports.first + 1, ports.first + 2] {
        assert!(!listening(port), "port {port} still listens after stop");
    }
    eprintln!("started and stopped again: {:?}", began.elapsed());
    let mut again = cluster(dir.path(), &ports, &database);
    again.arg("stop");
    let again = run(again, "stop (again)");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not running"));
}
