//! The run's one `redis-server`: started on a free port at first use, stopped when the test
//! process exits. Every test works under its own random key prefix on it, so listing keys
//! uses `SCAN` (never `KEYS`, which blocks the server every other test is using).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

static REDIS: OnceLock<String> = OnceLock::new();

/// URL of the run's redis-server, started on first use. A shell watchdog stops it when this
/// test process ends, so no server outlives the run.
pub fn redis_url() -> String {
    REDIS
        .get_or_init(|| {
            let port = free_port();
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                 --maxmemory-policy noeviction --loglevel warning & pid=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $pid",
                parent = std::process::id()
            );
            // The watchdog shell outlives this call on purpose: it ends with the test process.
            #[allow(clippy::zombie_processes)]
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("redis-server must be installed (the README's test command installs it)");
            let deadline = Instant::now() + Duration::from_secs(10);
            // Polls for the port to open: the server gives no other sign of readiness.
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            format!("redis://127.0.0.1:{port}")
        })
        .clone()
}

/// Every key matching `pattern`, sorted, listed with `SCAN` (incremental, so the shared
/// server keeps serving the other tests meanwhile).
pub async fn scan_keys<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    pattern: &str,
) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // SCAN may return a key more than once.
    keys.sort();
    keys.dedup();
    keys
}

/// The commands the run's Redis executes that mention `needle` (typically a test's key
/// prefix), as `MONITOR` prints them, collected while this lives. For the rare test that
/// must know a write was carried out when nothing else shows it (a script that finds its
/// key gone and writes nothing). Costly for the shared server: keep it short-lived.
///
/// A script's own commands are printed right after the `EVALSHA` that ran it, tagged `lua`
/// (scripts run atomically, so nothing comes in between).
pub struct CommandLog {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CommandLog {
    /// Starts monitoring; commands sent after this returns are seen.
    pub async fn start(needle: &str) -> CommandLog {
        use futures_util::StreamExt;
        let client = redis::Client::open(redis_url()).expect("redis url");
        let monitor = client.get_async_monitor().await.expect("MONITOR");
        let lines: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let (kept, needle) = (lines.clone(), needle.to_string());
        let task = actix_rt::spawn(async move {
            let mut stream = monitor.into_on_message::<String>();
            while let Some(line) = stream.next().await {
                if line.contains(&needle) {
                    kept.lock().expect("log").push(line);
                }
            }
        });
        CommandLog { lines, task }
    }

    /// The lines kept so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log").clone()
    }

    /// Whether a script was run (not merely called) with arguments containing `call`: its
    /// `EVALSHA` line is followed by a command of the script itself.
    pub fn ran_script(&self, call: &str) -> bool {
        self.lines()
            .windows(2)
            .any(|pair| pair[0].contains(call) && pair[1].contains(" lua]"))
    }
}

impl Drop for CommandLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
