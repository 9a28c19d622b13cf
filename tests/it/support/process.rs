//! The real `octohooks` binary as subprocesses (worker and API nodes sharing the run's Redis
//! and one key prefix): starting them with the test settings, stopping them (SIGKILL, or
//! SIGTERM and a clean exit), and probes of the leases they hold.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use octohooks::config::Config;
use octohooks::store::Store;

/// Shutdown timeout given to the node processes.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A node subprocess (`octohooks worker` or `octohooks api`), killed if still running when
/// dropped (a failed test leaves none behind). Its stderr (the log) goes to a temporary file.
pub struct NodeProcess {
    child: Child,
    log: PathBuf,
    /// Seen to exit (killed, or waited for).
    exited: bool,
    /// Base URL of an API node (`http://127.0.0.1:PORT`), empty for a worker.
    pub base: String,
}

impl NodeProcess {
    /// `octohooks worker` with the test settings.
    pub fn worker(config: &Config, name: &str) -> NodeProcess {
        Self::worker_with(config, name, &[])
    }

    /// Like `worker`, with extra `OCTOHOOKS__…` settings (later ones win).
    pub fn worker_with(config: &Config, name: &str, extra: &[(&str, &str)]) -> NodeProcess {
        let (mut command, log) = Self::command(config, name, "worker");
        let child = command
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the octohooks binary");
        NodeProcess {
            child,
            log,
            exited: false,
            base: String::new(),
        }
    }

    /// `octohooks api` on a free port, once it printed where it listens (its first line).
    pub fn api(config: &Config, name: &str, extra: &[(&str, &str)]) -> NodeProcess {
        let (mut command, log) = Self::command(config, name, "api");
        let mut child = command
            .env("OCTOHOOKS__SERVER__BIND", "127.0.0.1:0")
            .env("OCTOHOOKS__SERVER__WORKERS", "1")
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the octohooks binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        // Reads the first line, then drains the rest so the process never blocks on a pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let mut node = NodeProcess {
            child,
            log,
            exited: false,
            base: String::new(),
        };
        let first = first_rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("API node printed nothing; log:\n{}", node.log_tail()));
        node.base = first
            .strip_prefix("octohooks: API listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        node
    }

    /// The binary with the shared settings of every node.
    fn command(config: &Config, name: &str, role: &str) -> (Command, PathBuf) {
        let log = std::env::temp_dir().join(format!("{}-{name}.log", config.redis.prefix));
        let stderr = File::create(&log).expect("node log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_octohooks"));
        // A developer's RUST_LOG must not change what the nodes log.
        command
            .arg(role)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(stderr);
        for (key, value) in node_env(config) {
            command.env(key, value);
        }
        (command, log)
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        self.exited = true;
    }

    /// Whether the process has not been seen to exit (killed, or waited for).
    pub fn running(&self) -> bool {
        !self.exited
    }

    /// SIGTERM: asks for a graceful shutdown.
    pub fn terminate(&self) {
        signal(self.child.id(), "TERM");
    }

    /// SIGSTOP: freezes the process (its leases lapse while its sockets stay open).
    pub fn freeze(&self) {
        signal(self.child.id(), "STOP");
    }

    /// SIGCONT: resumes a frozen process where it stopped.
    pub fn thaw(&self) {
        signal(self.child.id(), "CONT");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = true;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The end of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `OCTOHOOKS__…` environment every node process of a test gets: the run's Redis (or a
/// Redis Cluster, with its replica acknowledgements), the test's prefix and partition count,
/// loopback deliveries and fast timers.
pub fn node_env(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("OCTOHOOKS__REDIS__URL", config.redis.url.clone()),
        (
            "OCTOHOOKS__REDIS__CLUSTER",
            config.redis.cluster.to_string(),
        ),
        (
            "OCTOHOOKS__REDIS__MIN_REPLICAS_ACK",
            config.redis.min_replicas_ack.to_string(),
        ),
        ("OCTOHOOKS__REDIS__PREFIX", config.redis.prefix.clone()),
        (
            "OCTOHOOKS__QUEUE__PARTITIONS",
            config.queue.partitions.to_string(),
        ),
        ("OCTOHOOKS__QUEUE__BLOCK", "200ms".into()),
        ("OCTOHOOKS__QUEUE__RETRY_POLL", "50ms".into()),
        ("OCTOHOOKS__DELIVERY__ALLOW_PRIVATE_IPS", "true".into()),
        ("OCTOHOOKS__WORKER__LEASE_TTL", "2s".into()),
        ("OCTOHOOKS__WORKER__HEARTBEAT", "500ms".into()),
        ("OCTOHOOKS__WORKER__THREADS", "2".into()),
        ("OCTOHOOKS__RETRY__SCHEDULE", "200ms,400ms".into()),
        (
            "OCTOHOOKS__SHUTDOWN__TIMEOUT",
            format!("{}s", SHUTDOWN_TIMEOUT.as_secs()),
        ),
        ("OCTOHOOKS__LOG__LEVEL", "warn".into()),
    ]
}

/// SIGTERMs a node and asserts it exits cleanly within the shutdown timeout; returns how long
/// it took.
pub async fn stop_gracefully(node: &mut NodeProcess) -> Duration {
    let asked = Instant::now();
    node.terminate();
    let limit = SHUTDOWN_TIMEOUT + Duration::from_secs(2);
    let status = node.wait_exit(limit).await;
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "node still running {limit:?} after SIGTERM; log:\n{}",
            node.log_tail()
        )
    });
    assert!(
        status.success(),
        "node exited with {status} after SIGTERM; log:\n{}",
        node.log_tail()
    );
    took
}

/// The node id of each held lease, by partition (what the workers themselves read).
pub async fn lease_holders(store: &Store) -> Vec<Option<String>> {
    octohooks::queue::lease::holders(&store.db)
        .await
        .expect("lease holders")
}

/// Leases and live-node entries left under a deployment's prefix.
pub async fn ownership_keys(store: &Store) -> Vec<String> {
    let keys = &store.db.keys;
    let mut conn = store.conn().await.expect("conn");
    let mut left = Vec::new();
    for p in 0..keys.partitions() {
        let exists: bool = redis::cmd("EXISTS")
            .arg(keys.lease(p))
            .query_async(&mut conn)
            .await
            .expect("exists");
        if exists {
            left.push(keys.lease(p));
        }
    }
    let nodes: i64 = redis::cmd("ZCARD")
        .arg(keys.nodes())
        .query_async(&mut conn)
        .await
        .expect("zcard");
    if nodes > 0 {
        left.push(format!("{} ({nodes} live nodes)", keys.nodes()));
    }
    left
}

/// Sends `SIG<name>` to `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// `octohooks listen` on a free port: its printed output, collected as it comes.
pub struct ListenProcess {
    child: Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    /// Where it receives (`http://127.0.0.1:PORT`).
    pub url: String,
}

impl ListenProcess {
    /// Starts it with these extra arguments (`--secret ...`, `--status ...`).
    pub fn start(args: &[&str]) -> ListenProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_octohooks"))
            .args(["listen", "--port", "0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn octohooks listen");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let collected = output.clone();
        std::thread::spawn(move || {
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(tx) = first.take() {
                    let _ = tx.send(line.clone());
                }
                if let Ok(mut text) = collected.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let first = first_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("octohooks listen printed nothing");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .trim_end_matches('/')
            .to_string();
        ListenProcess { child, output, url }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for ListenProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
