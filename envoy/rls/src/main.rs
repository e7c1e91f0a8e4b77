//! `test-rls --listen ADDR --redis URL --limits FILE`: serve `ShouldRateLimit` (prints
//! `listening on ADDR` once ready; ADDR's port may be 0).
//! `test-rls --validate FILE`: exit 0 when FILE reads as a list of Limitador limits whose
//! conditions and variables all parse, else print why and exit 1.

use std::path::PathBuf;
use std::process::ExitCode;

use mcp_policy_test_rls::rls::{read_limits, Rls};
use mcp_policy_test_rls::server::serve;

const USAGE: &str =
    "usage: test-rls --listen ADDR --redis URL --limits FILE\n       test-rls --validate FILE";

enum Command {
    Serve {
        listen: String,
        redis: String,
        limits: PathBuf,
    },
    Validate(PathBuf),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let (mut listen, mut redis, mut limits, mut validate) = (None, None, None, None);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let slot = match name.as_str() {
            "--listen" => &mut listen,
            "--redis" => &mut redis,
            "--limits" => &mut limits,
            "--validate" => &mut validate,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("{name} given twice"));
        }
    }
    match (listen, redis, limits, validate) {
        (None, None, None, Some(file)) => Ok(Command::Validate(file.into())),
        (Some(listen), Some(redis), Some(limits), None) => Ok(Command::Serve {
            listen,
            redis,
            limits: limits.into(),
        }),
        _ => Err("give --listen, --redis and --limits, or --validate alone".to_string()),
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("test-rls: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Validate(file) => match read_limits(&file) {
            Ok(limits) => {
                println!("{}: {} limits", file.display(), limits.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve {
            listen,
            redis,
            limits,
        } => match run(&listen, &redis, &limits) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("test-rls: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(listen: &str, redis: &str, limits: &std::path::Path) -> Result<(), String> {
    let limits = read_limits(limits)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    runtime.block_on(async {
        let rls = Rls::connect(redis, limits).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        println!("listening on {addr}");
        serve(rls, listener, stopped()).await
    })
}

/// SIGTERM or SIGINT.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
