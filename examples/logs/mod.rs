//! The examples' logs: `RUST_LOG` (`bearer_guard=debug`, `bearer_guard=debug,info`, `warn`…),
//! to stderr, so that stdout stays what the example prints for you (and for the tests that
//! read its first line).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Logs what `RUST_LOG` asks for, or `default` when it is unset; a `RUST_LOG` that does not
/// parse is said once and `default` is used.
pub(crate) fn init(program: &str, default: &str) {
    let wanted = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match wanted.as_deref().map(str::parse::<Targets>) {
        Some(Ok(filter)) => filter,
        Some(Err(error)) => {
            eprintln!("{program}: RUST_LOG ignored ({error}); logging {default}");
            default.parse().unwrap_or_default()
        }
        None => default.parse().unwrap_or_default(),
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}
