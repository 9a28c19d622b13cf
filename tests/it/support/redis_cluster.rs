//! A real Redis Cluster for the cluster-mode tests: three masters and three replicas, each a
//! `redis-server --cluster-enabled yes` on free ports in a temporary directory (AOF on, as in
//! production), joined by `redis-cli --cluster create … --cluster-replicas 1`. Stopped with
//! SIGKILL when dropped; a shell watchdog kills what is left if the test process dies first.
//!
//! The faults the tests inflict are the real ones: `CLUSTER FAILOVER` on a replica, SIGKILL of
//! a master, `redis-cli --cluster reshard`. Every wait is on what the nodes report
//! (`CLUSTER INFO`, `CLUSTER SLOTS`, `INFO replication`), never on a guessed time.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::redis_server::scan_keys;
use super::wait::poll_until;

/// Masters of the cluster (each with one replica).
pub const MASTERS: usize = 3;
/// How long a node may be unreachable before the others consider it failed. Short, so a
/// killed master is replaced within seconds; long enough that a node starved of CPU on a busy
/// machine for a moment is not failed over by mistake.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(3000);
/// Longest wait for the cluster to agree on its topology after a start or a change (seen:
/// 1–2 s for a start, node timeout + ~1 s for a failover after a kill).
const CONVERGE: Duration = Duration::from_secs(40);

/// File of the running nodes' pids, read by the watchdog.
const PIDS: &str = "pids";

/// One `redis-server` of the cluster.
struct Node {
    port: u16,
    child: Child,
    /// Seen to exit (killed).
    killed: bool,
}

/// A master as the cluster reports it (`CLUSTER NODES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    /// Cluster node id (for `--cluster-from`/`--cluster-to`).
    pub id: String,
    pub port: u16,
    /// Slot ranges it serves, inclusive.
    pub slots: Vec<(u16, u16)>,
    /// Port of its replica, if one is connected.
    pub replica: Option<u16>,
}

impl Master {
    /// `host:port`, as `cluster status` names a partition's master.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }

    /// Its first `count` slots in ascending order (what `redis-cli --cluster reshard` moves
    /// away from a single source).
    pub fn first_slots(&self, count: usize) -> Vec<u16> {
        let mut slots: Vec<u16> = self.slots.iter().flat_map(|(a, b)| *a..=*b).collect();
        slots.sort_unstable();
        slots.truncate(count);
        slots
    }
}

/// Three masters and three replicas on 127.0.0.1, stopped when dropped.
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    watchdog: Child,
}

/// A port `p` below 55535 such that `p` and its cluster bus port `p + 10000` are both free.
/// Taken from 10000–22767 so neither falls in Linux's ephemeral range (32768+), where a
/// client socket could grab it between this check and the server's bind.
fn free_cluster_port(taken: &[u16]) -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(10_000..22_768u16);
        if taken.contains(&port) {
            continue;
        }
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// Runs a command to completion off the test's thread (which the service's tasks share).
async fn run(mut command: Command) -> Output {
    let shown = format!("{command:?}");
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until every node reports it healthy,
    /// every replica is in sync and all agree on who serves which slot.
    pub async fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("octo-cluster-{}", uuid::Uuid::new_v4()));
        let mut ports = Vec::new();
        for _ in 0..MASTERS * 2 {
            ports.push(free_cluster_port(&ports));
        }
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
             kill -9 $(cat '{pids}') 2>/dev/null; rm -rf '{dir}'",
            parent = std::process::id(),
            pids = dir.join(PIDS).display(),
            dir = dir.display()
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .spawn()
            .expect("watchdog shell");
        let mut cluster = RedisCluster {
            dir,
            nodes: Vec::new(),
            watchdog,
        };
        for port in &ports {
            let child = spawn_node(&cluster.dir, *port);
            cluster.nodes.push(Node {
                port: *port,
                child,
                killed: false,
            });
        }
        cluster.write_pids();
        for node in &cluster.nodes {
            poll_until(
                Duration::from_secs(20),
                &format!("redis-server on port {} answering", node.port),
                || async { node_conn(node.port).await.is_some() },
                |up| *up,
            )
            .await;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        create.args(ports.iter().map(|p| format!("127.0.0.1:{p}")));
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = run(create).await;
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_healthy().await;
        cluster
    }

    /// Seed nodes for `redis.url` (every node: a client needs only one of them alive).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Ports of the nodes still running.
    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| !n.killed)
            .map(|n| n.port)
            .collect()
    }

    /// A connection to one node.
    pub async fn conn(&self, port: u16) -> MultiplexedConnection {
        node_conn(port)
            .await
            .unwrap_or_else(|| panic!("redis node {port} unreachable"))
    }

    /// The masters serving slots, as a live node reports them, by port.
    pub async fn masters(&self) -> Vec<Master> {
        let port = self.live_ports()[0];
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut self.conn(port).await)
            .await
            .expect("CLUSTER NODES");
        parse_masters(&text)
    }

    /// The master serving `slot`.
    pub async fn master_of(&self, slot: u16) -> Master {
        self.masters()
            .await
            .into_iter()
            .find(|m| m.serves(slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// The slot of `key`.
    pub async fn slot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut self.conn(self.live_ports()[0]).await)
            .await
            .expect("CLUSTER KEYSLOT")
    }

    /// Waits until every live node reports `cluster_state:ok` with all slots served, all of
    /// them agree on the slot map, and every master named there has a replica in sync
    /// (replicas of a killed master excepted: it has none left). Returns how long it took.
    pub async fn wait_healthy(&self) -> Duration {
        let started = Instant::now();
        let _ = poll_until(
            CONVERGE,
            "the Redis Cluster healthy and in agreement",
            || self.health(),
            Result::is_ok,
        )
        .await;
        started.elapsed()
    }

    /// Why the cluster is not healthy yet, or Ok.
    async fn health(&self) -> Result<(), String> {
        let mut maps = Vec::new();
        for port in self.live_ports() {
            let Some(mut conn) = node_conn(port).await else {
                return Err(format!("node {port} unreachable"));
            };
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("node {port}: {e}"))?;
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                return Err(format!("node {port} not ok yet"));
            }
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("node {port}: {e}"))?;
            maps.push((port, parse_masters(&nodes)));
        }
        let (first_port, first) = &maps[0];
        if let Some((port, _)) = maps.iter().find(|(_, m)| m != first) {
            return Err(format!("nodes {first_port} and {port} disagree"));
        }
        let live = self.live_ports();
        for master in first {
            if !live.contains(&master.port) {
                return Err(format!("master {} is down", master.port));
            }
            let Some(replica) = master.replica.filter(|r| live.contains(r)) else {
                if self.nodes.iter().any(|n| n.killed) {
                    continue;
                }
                return Err(format!("master {} has no replica", master.port));
            };
            let replication: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut self.conn(replica).await)
                .await
                .map_err(|e| format!("node {replica}: {e}"))?;
            if !replication.contains("master_link_status:up") {
                return Err(format!("replica {replica} not in sync"));
            }
        }
        Ok(())
    }

    /// `CLUSTER FAILOVER` on `master`'s replica (a manual failover: the replica catches up
    /// with its master, then they swap roles, losing nothing); waits until the cluster agrees
    /// the replica serves the slots. Returns the time from the command to agreement.
    pub async fn failover(&self, master: &Master) -> Duration {
        let replica = master.replica.expect("a replica to promote");
        let started = Instant::now();
        let _: String = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query_async(&mut self.conn(replica).await)
            .await
            .expect("CLUSTER FAILOVER");
        self.wait_promoted(master, started).await
    }

    /// SIGKILL of the node on `port` (no shutdown, no last fsync).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        node.child.kill().expect("SIGKILL");
        node.child.wait().expect("reap");
        node.killed = true;
        self.write_pids();
    }

    /// Starts a killed node again on its port, with its directory (node table, AOF): a
    /// former master rejoins as a replica of the node that replaced it. Waits until the
    /// cluster is healthy again (every master with a replica in sync); returns how long that
    /// took.
    pub async fn restart(&mut self, port: u16) -> Duration {
        let started = Instant::now();
        let child = spawn_node(&self.dir, port);
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port && n.killed)
            .expect("a killed node of this cluster");
        node.child = child;
        node.killed = false;
        self.write_pids();
        self.wait_healthy().await;
        started.elapsed()
    }

    /// Records the running nodes' pids for the watchdog.
    fn write_pids(&self) {
        let pids: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !n.killed)
            .map(|n| n.child.id().to_string())
            .collect();
        std::fs::write(self.dir.join(PIDS), pids.join(" ")).expect("pid file");
    }

    /// Waits until `master`'s replica serves its slots (after a failover or the master's
    /// death) and the cluster agrees; returns the time since `since`.
    pub async fn wait_promoted(&self, master: &Master, since: Instant) -> Duration {
        let replica = master.replica.expect("a replica");
        poll_until(
            CONVERGE,
            &format!("replica {replica} promoted"),
            || async {
                let promoted = self.masters().await.iter().any(|m| m.port == replica);
                promoted && self.health().await.is_ok()
            },
            |done| *done,
        )
        .await;
        since.elapsed()
    }

    /// `redis-cli --cluster reshard` of `slots` slots from `from` to `to` (the lowest slots
    /// of `from`); waits until the cluster agrees again. Returns the time it took.
    pub async fn reshard(&self, from: &Master, to: &Master, slots: usize) -> Duration {
        let started = Instant::now();
        let mut reshard = Command::new("redis-cli");
        reshard
            .arg("--cluster")
            .arg("reshard")
            .arg(to.addr())
            .args(["--cluster-from", &from.id, "--cluster-to", &to.id])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"]);
        let output = run(reshard).await;
        assert!(
            output.status.success(),
            "redis-cli --cluster reshard failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        self.wait_healthy().await;
        started.elapsed()
    }

    /// Keys matching `pattern` on each master, by `host:port` (listed with SCAN on each).
    pub async fn keys_per_master(&self, pattern: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for master in self.masters().await {
            let keys = scan_keys(&mut self.conn(master.port).await, pattern).await;
            counts.insert(master.addr(), keys.len());
        }
        counts
    }

    /// The end of a node's log, for failure messages.
    pub fn log_tail(&self, port: u16) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{port}/redis.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if !node.killed {
                let _ = node.child.kill();
                let _ = node.child.wait();
            }
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One cluster-enabled `redis-server` with its own directory (node table, AOF, log), with
/// the production persistence settings (AOF everysec, noeviction).
fn spawn_node(dir: &std::path::Path, port: u16) -> Child {
    let home = dir.join(port.to_string());
    std::fs::create_dir_all(&home).expect("node directory");
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf"])
        .args([
            "--cluster-node-timeout",
            &NODE_TIMEOUT.as_millis().to_string(),
        ])
        .args(["--dir", &home.display().to_string()])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
        ])
        .args(["--maxmemory-policy", "noeviction"])
        .args(["--logfile", "redis.log", "--loglevel", "notice"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("redis-server must be installed (the README's test command installs it)")
}

/// A connection to the node on `port`, or None while it does not answer.
async fn node_conn(port: u16) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()?;
    let pong: Option<String> = redis::cmd("PING").query_async(&mut conn).await.ok();
    pong.map(|_| conn)
}

/// The masters serving slots in `CLUSTER NODES` output, by port, each with its replica
/// (one that is not failed).
fn parse_masters(text: &str) -> Vec<Master> {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let port_of = |fields: &Vec<&str>| -> u16 {
        // "127.0.0.1:7000@17000"
        fields[1]
            .split(['@', ','])
            .next()
            .and_then(|addr| addr.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(0)
    };
    let mut masters: Vec<Master> = lines
        .iter()
        .filter(|f| {
            f.len() >= 8 && f[2].contains("master") && !f[2].contains("fail") && f.len() > 8
        })
        .map(|f| Master {
            id: f[0].to_string(),
            port: port_of(f),
            slots: f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|x| (x, x)),
                })
                .collect(),
            replica: None,
        })
        .collect();
    for f in &lines {
        if f.len() >= 4 && f[2].contains("slave") && !f[2].contains("fail") {
            if let Some(master) = masters.iter_mut().find(|m| m.id == f[3]) {
                master.replica = Some(port_of(f));
            }
        }
    }
    masters.sort_by_key(|m| m.port);
    masters
}
