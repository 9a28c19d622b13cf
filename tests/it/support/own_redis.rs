//! A `redis-server` of the test's own, for fault tests that stop, restart, fill or cut the
//! server (which the run's shared server must never suffer): AOF `everysec` in a temporary
//! directory, so a graceful stop and a restart keep every acknowledged write, as in the
//! documented production setup.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::signal;
use super::redis_server::free_port;

/// How long a (re)start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A dedicated redis-server process, killed when dropped.
pub struct OwnRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts a server with AOF `everysec` and `noeviction`, and waits until it answers.
    pub async fn start() -> OwnRedis {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("octohooks-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = OwnRedis {
            port,
            dir,
            child: None,
        };
        redis.spawn().await;
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A client to this server (for the test's own probes).
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("redis url")
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().expect("utf-8 dir")])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Polls until the server answers PING with PONG (not LOADING): it gives no other sign.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut conn) = self.client().get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if matches!(pong.as_deref(), Ok("PONG")) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} not ready",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server gracefully (SIGTERM: the AOF is flushed and fsynced) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            child.wait().expect("reap redis-server");
        }
    }

    /// Starts the server again on the same port and directory (it reloads its AOF).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        self.spawn().await;
    }

    /// A command on a fresh connection (the test's probes must not share the service's).
    pub async fn cmd<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let mut conn = self
            .client()
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        command.query_async(&mut conn).await.expect("redis command")
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
