//! Roles and lifecycle of a node: start the API and/or the worker around one Redis, wait for
//! SIGTERM/SIGINT, then drain: the API stops accepting, the worker finishes or safely leaves
//! its in-flight deliveries and releases its partition leases.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{web, App, HttpServer};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::db::StoreError;
use crate::dispatch::Worker;
use crate::store::Store;

/// Which parts a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
}

impl Roles {
    pub const API: Roles = Roles {
        api: true,
        worker: false,
    };
    pub const WORKER: Roles = Roles {
        api: false,
        worker: true,
    };
    pub const BOTH: Roles = Roles {
        api: true,
        worker: true,
    };
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot bind the API to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot reach Redis at {url}: {source}")]
    Redis { url: String, source: StoreError },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running node (API and/or worker).
pub struct Node {
    /// Where the API listens, when this node runs it.
    pub api_addr: Option<SocketAddr>,
    /// The store, shared with tools and tests.
    pub store: Store,
    server: Option<actix_web::dev::ServerHandle>,
    metrics_server: Option<actix_web::dev::ServerHandle>,
    worker: Option<Worker>,
}

impl Node {
    /// Starts the roles; must run inside an actix system (actors live on its arbiters).
    pub async fn start(config: Arc<Config>, roles: Roles) -> Result<Node, RuntimeError> {
        let store = Store::connect(&config)
            .await
            .map_err(|source| RuntimeError::Redis {
                url: config.redis.url.clone(),
                source,
            })?;
        let mut node = Node {
            api_addr: None,
            store: store.clone(),
            server: None,
            metrics_server: None,
            worker: None,
        };
        if roles.worker {
            node.worker = Some(Worker::start(config.clone(), store.clone()).await);
        }
        let state = web::Data::new(ApiState::new(store.clone(), config.clone()));
        let metrics_bind = config
            .metrics
            .bind_addr()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        if let Some(addr) = metrics_bind {
            let listener =
                TcpListener::bind(addr).map_err(|source| RuntimeError::Bind { addr, source })?;
            let state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/metrics", web::get().to(api::metrics::metrics))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run();
            node.metrics_server = Some(server.handle());
            actix_rt::spawn(server);
        }
        if roles.api {
            let addr = config.server.bind;
            let listener =
                TcpListener::bind(addr).map_err(|source| RuntimeError::Bind { addr, source })?;
            node.api_addr = Some(listener.local_addr()?);
            let workers = match config.server.workers {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n,
            };
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .wrap(actix_web::middleware::from_fn(api::metrics::track))
                    .wrap(api::cors_headers())
                    .configure(api::configure)
                    .default_service(web::to(api::no_route))
            })
            .workers(workers)
            .client_request_timeout(config.server.request_timeout)
            .disable_signals()
            .shutdown_timeout(config.shutdown.timeout.as_secs().max(1))
            .listen(listener)?
            .run();
            node.server = Some(server.handle());
            actix_rt::spawn(server);
        }
        Ok(node)
    }

    /// What the node's worker is doing right now (`None` without the worker role).
    pub fn activity(&self) -> Option<crate::dispatch::activity::ActivitySnapshot> {
        self.worker.as_ref().map(Worker::activity)
    }

    /// Graceful stop: API first (no new messages), then the worker.
    pub async fn shutdown(self) {
        if let Some(server) = self.server {
            server.stop(true).await;
        }
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        if let Some(server) = self.metrics_server {
            server.stop(true).await;
        }
    }
}

/// Runs a node until SIGTERM or SIGINT, then shuts it down within the configured time.
pub fn run_until_signal(config: Arc<Config>, roles: Roles) -> Result<(), RuntimeError> {
    actix_rt::System::new().block_on(async move {
        let node = Node::start(config.clone(), roles).await?;
        if let Some(addr) = node.api_addr {
            // Machine-readable first line for scripts that start the service on port 0.
            println!("octohooks: API listening on http://{addr}");
            if config.auth.bootstrap_token.is_empty() {
                println!("octohooks: authenticate with a token from `octohooks token create --org NAME`");
            } else {
                println!("octohooks: authenticate with `Authorization: Bearer <auth.bootstrap_token>` (organisation \"default\")");
            }
        }
        if roles.worker {
            println!("octohooks: worker running");
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        if tokio::time::timeout(config.shutdown.timeout, node.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("shutdown timed out; pending work stays in Redis for the next owner");
        }
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
