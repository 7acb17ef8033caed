//! Several real `omnibridge serve` processes behind HAProxy on one address, sharing their
//! state in a fresh PostgreSQL database and one Redis Streams bus, each with a data dir of its
//! own (as on separate machines): the harness of the scale-out acceptance tests.
//!
//! - `ingest`: signed WhatsApp webhooks at a steady rate while an instance is SIGKILLed and
//!   restarted; every acked message on the bus once, each business webhook group gets it.
//! - `payments`: one MPP credential submitted 100 times across the instances, and 50 racing
//!   payers on one intent: one settlement, one receipt.
//! - `webchat`: a visitor on one instance gets replies posted through another within 100 ms.
//! - `script`: `scripts/cluster` itself, as the README shows it.
//!
//! HAProxy runs the repo's own `scripts/cluster.haproxy.cfg`.

mod ingest;
mod payments;
mod script;
mod webchat;

use std::path::{Path, PathBuf};

use crate::process::{BridgeProcess, free_port, start_bridge_with_args};
use crate::support::haproxy::Haproxy;
use crate::support::postgres::PgDatabase;
use crate::support::redis_server::RedisServer;

/// The API key of every instance.
pub const KEY: &str = "cluster-test-key-0123456789";
/// The web chat's session secret, the same on every instance (a visitor may reconnect
/// through another one).
const WEBCHAT_SECRET: &str = "cluster-webchat-secret-0123456789abcdef";
/// The challenge-binding secret, the same on every instance (a challenge issued by one is
/// verified by another).
const PAYMENTS_SECRET: &str = "cluster-payments-secret-0123456789abcdef";
/// What an instance logs once it listens.
const LISTENING: &str = "omnibridge is listening";

/// What to start.
pub struct Options {
    /// How many instances.
    pub instances: usize,
    /// A TOML file's text given to every instance with `--config` (channels, webhooks).
    pub config: Option<String>,
    /// Extra env vars of every instance (channel secrets, payment methods).
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            instances: 3,
            config: None,
            env: Vec::new(),
        }
    }
}

/// One instance: its name in HAProxy, port and data dir, and the process while it runs.
pub struct Instance {
    /// `a`, `b`, `c`...: the server name in HAProxy and the log file's name.
    pub name: String,
    /// `http://127.0.0.1:<port>`: the instance itself, not through HAProxy.
    pub base: String,
    port: u16,
    data_dir: PathBuf,
    process: Option<BridgeProcess>,
}

/// The running cluster; everything is stopped (and the database dropped) on drop.
pub struct Cluster {
    /// HAProxy: [`Cluster::base`] is its address.
    pub proxy: Haproxy,
    /// The instances, in start order.
    pub instances: Vec<Instance>,
    env: Vec<(&'static str, String)>,
    args: Vec<String>,
    _redis: RedisServer,
    /// The state, dropped with the cluster.
    _database: PgDatabase,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts Redis, a fresh database, HAProxy and the instances, and waits until HAProxy
    /// sees every instance up.
    pub async fn start(options: Options) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start();
        let names: Vec<String> = (0..options.instances)
            .map(|i| char::from(b'a' + u8::try_from(i).unwrap()).to_string())
            .collect();
        let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
        let servers: Vec<(String, u16)> = names.iter().cloned().zip(ports.clone()).collect();
        let proxy = Haproxy::start(&servers);
        let database = PgDatabase::create();
        let mut env = vec![
            ("OMNIBRIDGE__STORAGE__STATE", database.url()),
            ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
            ("OMNIBRIDGE__STORAGE__BUS", redis.url()),
            ("OMNIBRIDGE_WEBCHAT_SECRET", WEBCHAT_SECRET.to_owned()),
            ("OMNIBRIDGE_PAYMENTS_SECRET", PAYMENTS_SECRET.to_owned()),
            ("OMNIBRIDGE__SERVER__PUBLIC_URL", proxy.base()),
        ];
        env.extend(options.env);
        let mut args = Vec::new();
        if let Some(config) = options.config {
            let file = dir.path().join("cluster.toml");
            std::fs::write(&file, config).unwrap();
            args = vec!["--config".to_owned(), file.to_str().unwrap().to_owned()];
        }
        let instances = servers
            .into_iter()
            .map(|(name, port)| {
                let data_dir = dir.path().join(&name);
                std::fs::create_dir_all(&data_dir).unwrap();
                Instance {
                    base: format!("http://127.0.0.1:{port}"),
                    name,
                    port,
                    data_dir,
                    process: None,
                }
            })
            .collect();
        let mut cluster = Cluster {
            proxy,
            instances,
            env,
            args,
            _redis: redis,
            _database: database,
            dir,
        };
        for i in 0..cluster.instances.len() {
            cluster.restart(i).await;
        }
        cluster
    }

    /// HAProxy's address: the one address of the whole cluster.
    pub fn base(&self) -> String {
        self.proxy.base()
    }

    /// SIGKILLs instance `i` (no shutdown: leases run out, pending work is left behind).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut process) = self.instances[i].process.take() {
            process.child.kill().unwrap();
            process.child.wait().unwrap();
        }
    }

    /// Starts instance `i` (again) on its port and data dir, and waits until it is ready and
    /// HAProxy sends it requests again.
    pub async fn restart(&mut self, i: usize) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let instance = &mut self.instances[i];
        assert!(instance.process.is_none(), "{} is running", instance.name);
        let listening = |instance: &Instance| {
            log_of(&instance.data_dir, &instance.name)
                .matches(LISTENING)
                .count()
        };
        let before = listening(instance);
        let mut process = start_bridge_with_args(
            &instance.data_dir,
            instance.port,
            &instance.name,
            &self.env,
            &args,
        )
        .await;
        // Ready on the port, but is it this process? Ports come from `free_port`, and another
        // test's process may have bound the same one meanwhile.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while listening(instance) == before {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!(
                    "instance {} exited ({status}) while something answered on its port {}: \
                     another process took the port\n{}",
                    instance.name,
                    instance.port,
                    log_of(&instance.data_dir, &instance.name)
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {} never said it listens",
                instance.name
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        instance.process = Some(process);
        assert!(
            log_of(&instance.data_dir, &instance.name).contains("State in PostgreSQL."),
            "instance {} does not keep its state in PostgreSQL",
            instance.name
        );
        self.proxy.wait_status(&self.instances[i].name, "UP").await;
    }

    /// The sum of the metric series starting with `series` and containing every one of
    /// `labels` (`method="POST"`...), over the running instances' `/metrics`.
    pub async fn metric_sum(&self, series: &str, labels: &[&str]) -> u64 {
        let mut sum = 0;
        for instance in self.instances.iter().filter(|i| i.process.is_some()) {
            sum += instance_metric(&instance.base, series, labels).await;
        }
        sum
    }

    /// Every instance's log and HAProxy's, for a failing test's output.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for instance in &self.instances {
            let log = log_of(&instance.data_dir, &instance.name);
            out.push_str(&format!("--- {}.log\n{log}\n", instance.name));
        }
        out.push_str(&format!("--- haproxy.log\n{}", self.proxy.log()));
        out
    }

    /// A directory for the test's own files, removed with the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The sum of the series of one instance's `/metrics` (see [`Cluster::metric_sum`]).
pub async fn instance_metric(base: &str, series: &str, labels: &[&str]) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(series) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

fn log_of(data_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(format!("{name}.log"))).unwrap_or_default()
}
