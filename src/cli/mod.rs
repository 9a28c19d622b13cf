//! Command line: `serve`, `api`, `worker`, `token create` and `cluster status`, each with
//! `--config FILE`; and `listen`, a local webhook receiver for developers.

pub mod listen;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::runtime::{self, Roles};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(name = "octohooks", version, about = "Webhook delivery service")]
struct Cli {
    /// Configuration file overriding the defaults (environment variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the worker in one process.
    Serve,
    /// Run only the HTTP API.
    Api,
    /// Run only the delivery worker.
    Worker,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Inspect the cluster.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Receive webhooks locally and print each one (headers, payload, signature check).
    Listen {
        /// Port to listen on, on 127.0.0.1 (0: a free one, printed at start).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// Address to listen on instead of 127.0.0.1.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// The endpoint's `whsec_` secret: every signature is verified with it.
        #[arg(long)]
        secret: Option<String>,
        /// HTTP status to answer with (e.g. 500 to watch the retries).
        #[arg(long, default_value_t = 200)]
        status: u16,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Live nodes, partition ownership and queue depths, as JSON.
    Status,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for an organisation; it is printed once, as the last line.
    Create {
        /// Organisation the token acts for (created on first use).
        #[arg(long)]
        org: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("octohooks: {e}");
            return ExitCode::from(2);
        }
    };
    // `listen` prints deliveries for people; the server's logs would only get in the way.
    if !matches!(cli.command, Command::Listen { .. }) {
        crate::telemetry::init(&config.log);
    }
    let roles = match cli.command {
        Command::Serve => Roles::BOTH,
        Command::Api => Roles::API,
        Command::Worker => Roles::WORKER,
        Command::Token {
            command: TokenCommand::Create { org },
        } => return create_token(&config, &org),
        Command::Cluster {
            command: ClusterCommand::Status,
        } => return cluster_status(&config),
        Command::Listen {
            port,
            host,
            secret,
            status,
        } => return listen(host, port, secret.as_deref(), status),
    };
    match runtime::run_until_signal(config, roles) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("octohooks: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `octohooks listen`: a receiver on its own (no Redis, no configuration needed).
fn listen(host: std::net::IpAddr, port: u16, secret: Option<&str>, status: u16) -> ExitCode {
    let key = match secret.map(listen::secret_key).transpose() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("octohooks listen: --secret: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(status) = actix_web::http::StatusCode::from_u16(status) else {
        eprintln!("octohooks listen: --status must be an HTTP status code (100-999)");
        return ExitCode::from(2);
    };
    let options = listen::Listen {
        addr: std::net::SocketAddr::new(host, port),
        key,
        status,
    };
    match listen::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("octohooks listen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one async store operation on a small runtime (CLI commands, no actors needed).
fn with_store<T>(
    config: &Config,
    op: impl AsyncFnOnce(Store) -> Result<T, crate::db::StoreError>,
) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let store = Store::connect(config).await.map_err(|e| e.to_string())?;
        op(store).await.map_err(|e| e.to_string())
    })
}

fn cluster_status(config: &Config) -> ExitCode {
    match with_store(config, async |store| {
        crate::queue::status::status(&store.db, config.worker.lease_ttl).await
    }) {
        Ok(status) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&status).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("octohooks: could not read cluster status: {e}");
            ExitCode::FAILURE
        }
    }
}

fn create_token(config: &Config, org: &str) -> ExitCode {
    if crate::api::validation::identifier("org", org).is_err() {
        eprintln!("octohooks: --org must be 1 to 256 characters of a-z, A-Z, 0-9, '.', '_' or '-'");
        return ExitCode::from(2);
    }
    match with_store(config, async |store| store.create_token(org).await) {
        Ok(token) => {
            println!("Token for organisation {org:?} (shown once, store it safely):");
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("octohooks: could not create token: {e}");
            ExitCode::FAILURE
        }
    }
}
