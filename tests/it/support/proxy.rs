//! A TCP proxy between the service and Redis that the test can cut: every connection through
//! it is a pair of real sockets, and `cut` closes all of them at once, as a flaky network or
//! a restarted load balancer would. New connections keep being accepted. It runs on a thread
//! and runtime of its own, so a test blocking its own thread (starting a node process) never
//! stalls the connections it forwards.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy; stops accepting and closes everything when dropped.
pub struct Proxy {
    pub port: u16,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<AtomicUsize>,
    listener: JoinHandle<()>,
    /// The proxy's runtime, shut down (without blocking) when the proxy is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).expect("proxy listener")
        };
        let port = listener.local_addr().expect("proxy addr").port();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (kept, count) = (connections.clone(), accepted.clone());
        let handle = runtime.handle().clone();
        let listener = runtime.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let pipe = handle.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut all = kept.lock().expect("connections");
                all.retain(|c| !c.is_finished());
                all.push(pipe);
            }
        });
        Proxy {
            port,
            connections,
            accepted,
            listener,
            runtime: Some(runtime),
        }
    }

    /// `redis://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes every open connection (both sockets of each); returns how many were open.
    pub fn cut(&self) -> usize {
        let mut all = self.connections.lock().expect("connections");
        let open = all.iter().filter(|c| !c.is_finished()).count();
        for connection in all.drain(..) {
            connection.abort();
        }
        open
    }

    /// Connections accepted so far (reconnections included).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.listener.abort();
        self.cut();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
