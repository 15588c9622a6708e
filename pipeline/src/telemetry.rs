//! Structured logs through `tracing`. Metrics go through the `metrics` facade, named
//! `mindset_<what>` and labelled by app, topic and group — never by customer.

/// Install the global subscriber (idempotent). `RUST_LOG` wins over `filter`.
pub fn init(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
