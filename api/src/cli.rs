//! The `mindset` commands. Each one loads the configuration (defaults, `--config`, `MINDSET_*`),
//! opens the configured log and does one thing.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mindset_enrich::core::EnrichConfig;
use mindset_pipeline::{
    Log,
    config::{Backend, Config},
    publish::publish,
    shell::{RunOptions, RunStats},
    shutdown::Shutdown,
    telemetry,
};
use mindset_sample_events::{GenConfig, generate, read_jsonl, write_jsonl};
use mindset_schemas::{CanonicalEvent, CustomerFeatures, TextInsight};
use mindset_topics::{TopicSpec, ValueCodec};

#[derive(Parser)]
#[command(
    name = "mindset",
    version,
    about = "Understand e-commerce customers from their events, in real time."
)]
pub struct Cli {
    /// Configuration file (TOML) with the keys to change from the defaults.
    #[arg(long, global = true, env = "MINDSET_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline on the sample shop (embedded log, nothing to install) and say where to look.
    Demo {
        /// The checked-in small set (~3,000 events) instead of the full generated shop (~100,000).
        #[arg(long)]
        small: bool,
        /// Directory for the demo's log (wiped at start).
        #[arg(long, default_value = ".mindset/demo")]
        dir: PathBuf,
    },
    /// Run a stream-app (or all of them) on the configured log until Ctrl-C.
    Run {
        /// The app: nlp or enrich.
        app: Option<String>,
        /// Run every stream-app.
        #[arg(long, conflicts_with = "app")]
        all: bool,
        /// Stop once every input is consumed (batch mode).
        #[arg(long)]
        until_caught_up: bool,
    },
    /// Topics: list them with their sizes, or create the missing ones on the configured log.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Append canonical events from a JSON-lines file (one event per line, as `mindset tail` prints).
    Produce {
        file: PathBuf,
        /// Check every line and report, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print records of a topic as JSON lines.
    Tail {
        topic: String,
        /// How many records at most.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Move a consumer group back to the start of its topics, so its app rebuilds its state from the log.
    Replay {
        /// The consumer group (a stream-app's name).
        group: String,
        /// Topics to rewind (default: customer.events.v1 and catalog.events.v1).
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
    /// Sample data.
    Sample {
        #[command(subcommand)]
        action: SampleAction,
    },
    /// Print the effective configuration.
    Config,
    /// The NLP models: train or find them in the cache ($MINDSET_CACHE/models).
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Serve the platform webhooks (HTTP ingest) on the configured log until Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The tenants' platform secrets (TOML; see docs/platforms/secrets.example.toml).
        #[arg(long, env = crate::ingest::SECRETS_ENV)]
        secrets: PathBuf,
        /// Mindset's public base URL, for the webhooks `/api/connections` registers (default:
        /// http://<addr>).
        #[arg(long, env = "MINDSET_PUBLIC_URL")]
        public_url: Option<String>,
        /// Threads that serve HTTP connections, each with a runtime of its own (default: one per
        /// core).
        #[arg(long, env = "MINDSET_HTTP_THREADS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        http_threads: Option<usize>,
    },
    /// Read orders and customers from the platforms' REST APIs (backfill, missed webhooks) for
    /// every tenant with `shopify_api`, `woocommerce_api`, `amazon_api` or `flipkart_api`
    /// secrets; incremental by cursor.
    Poll {
        /// The tenants' secrets (TOML; see docs/platforms/secrets.example.toml).
        #[arg(long, env = crate::ingest::SECRETS_ENV)]
        secrets: PathBuf,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Poll again every N seconds until Ctrl-C, instead of once.
        #[arg(long)]
        every: Option<u64>,
    },
    /// Import a CSV or JSON-lines export of reviews, chats, orders or customers (docs/collect.md).
    Import {
        file: PathBuf,
        /// What the file holds (default: from its name, e.g. reviews-2025.csv).
        #[arg(long, value_enum)]
        kind: Option<crate::import::Kind>,
        /// The tenant (shop) the rows belong to.
        #[arg(long)]
        tenant: String,
        /// Check every row and report each bad one with its line number; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// ISO 4217 currency of order rows without a `currency` column.
        #[arg(long)]
        currency: Option<String>,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Every declared topic with partitions, retention, dead-letter topic and record count.
    List,
    /// Create the declared topics that do not exist yet.
    Apply,
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Train the sentiment model from the MiniLM weights and the VADER sentences
    /// (`infra/fetch-nlp.sh` fetches both), with a progress bar; instant when it is cached.
    Prepare,
}

#[derive(Subcommand)]
enum SampleAction {
    /// Write the generated shop's events as JSON lines.
    Generate {
        #[arg(long)]
        small: bool,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.telemetry.filter);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Demo { small, dir } => demo(small, dir, DemoModels::Prepare).await.map(|_| ()),
        Command::Run {
            app,
            all,
            until_caught_up,
        } => {
            let apps: Vec<String> = match (app, all) {
                (_, true) => APPS.iter().map(|a| a.to_string()).collect(),
                (Some(a), false) => vec![a],
                (None, false) => bail!("name an app ({}) or pass --all", APPS.join(", ")),
            };
            let log = config.open_log()?;
            log.ensure_topics(&mindset_topics::all()).await?;
            let opts = RunOptions {
                stop_when_caught_up: until_caught_up,
                ..RunOptions::default()
            };
            let shutdown = Shutdown::on_signals();
            let mut tasks = Vec::new();
            for a in apps {
                let (log, opts, shutdown) = (log.clone(), opts.clone(), shutdown.clone());
                tasks.push(tokio::spawn(async move {
                    run_app(&a, &log, &opts, shutdown).await
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok(())
        }
        Command::Topics { action } => {
            let log = config.open_log()?;
            match action {
                TopicsAction::Apply => {
                    let created = log.ensure_topics(&mindset_topics::all()).await?;
                    println!(
                        "{} topics on the {} log; created: {}",
                        mindset_topics::all().len(),
                        log.backend_name(),
                        if created.is_empty() {
                            "none".to_owned()
                        } else {
                            created.join(", ")
                        }
                    );
                    Ok(())
                }
                TopicsAction::List => topics_list(&log).await,
            }
        }
        Command::Produce { file, dry_run } => produce(&config, file, dry_run).await,
        Command::Tail { topic, limit } => tail(&config.open_log()?, &topic, limit).await,
        Command::Replay { group, topics } => {
            let log = config.open_log()?;
            let specs: Vec<&TopicSpec> = if topics.is_empty() {
                vec![
                    &mindset_topics::CUSTOMER_EVENTS.spec,
                    &mindset_topics::CATALOG_EVENTS.spec,
                ]
            } else {
                topics
                    .iter()
                    .map(|t| topic_by_name(t))
                    .collect::<Result<_>>()?
            };
            log.reset_group(&group, &specs).await?;
            println!(
                "group {group} will read {} from the beginning on its next start",
                specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            );
            if group == mindset_enrich::NAME {
                // Else enrich would restore its state from the changelog and find every event
                // it reads again a duplicate.
                let epoch = mindset_enrich::reset_changelog(&log).await?;
                println!(
                    "{} starts epoch {epoch}: enrich rebuilds its state from the log",
                    mindset_topics::ENRICH_STATE.spec.name
                );
            }
            Ok(())
        }
        Command::Sample {
            action: SampleAction::Generate { small, seed, out },
        } => {
            let mut cfg = if small {
                GenConfig::small()
            } else {
                GenConfig::standard()
            };
            if let Some(s) = seed {
                cfg.seed = s;
            }
            let events = generate(&cfg);
            if out.as_os_str() == "-" {
                write_jsonl(&events, std::io::stdout().lock())?;
            } else {
                let f = std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                write_jsonl(&events, std::io::BufWriter::new(f))?;
                eprintln!("wrote {} events to {}", events.len(), out.display());
            }
            Ok(())
        }
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Models {
            action: ModelsAction::Prepare,
        } => tokio::task::spawn_blocking(crate::models::prepare)
            .await?
            .map(|_| ()),
        Command::Serve {
            addr,
            secrets,
            public_url,
            http_threads,
        } => {
            let threads = http_threads.unwrap_or_else(crate::serve::default_threads);
            serve(&config, addr, &secrets, public_url, threads).await
        }
        Command::Poll {
            secrets,
            tenant,
            every,
        } => poll(&config, &secrets, tenant.as_deref(), every).await,
        Command::Import {
            file,
            kind,
            tenant,
            dry_run,
            currency,
        } => crate::import::command(&config, &file, kind, &tenant, dry_run, currency).await,
    }
}

/// Poll every configured store once (or every `every` seconds until Ctrl-C), filing what is new.
pub async fn poll(
    config: &Config,
    secrets: &std::path::Path,
    only: Option<&str>,
    every: Option<u64>,
) -> Result<()> {
    use crate::poll::{PollSettings, amazon, flipkart, shopify, woocommerce};
    let secrets = crate::ingest::Secrets::load(secrets)?;
    if let Some(t) = only
        && secrets.tenant(t).is_none()
    {
        bail!("no tenant {t:?} in the secrets file");
    }
    let log = config.open_log()?;
    log.ensure_topics(&mindset_topics::all()).await?;
    let producer = log.producer()?;
    let cursors = config.data_dir.join("cursors");
    // LWA access tokens live an hour: kept across rounds, one per tenant.
    let mut amazon_tokens: std::collections::HashMap<String, amazon::AccessTokens> =
        std::collections::HashMap::new();
    // Flipkart's tokens live about 60 days: kept across rounds too.
    let mut flipkart_tokens: std::collections::HashMap<String, flipkart::AccessTokens> =
        std::collections::HashMap::new();
    let mut shutdown = Shutdown::on_signals();
    loop {
        let round = async {
            let (mut polled, mut failed) = (0, 0);
            for tenant in secrets.tenants().filter(|t| only.is_none_or(|o| o == *t)) {
                let t = secrets.tenant(tenant).expect("listed tenant");
                let mut settings = PollSettings::new(tenant, &cursors);
                settings.shop_currency = t.currency.clone();
                let mut runs = Vec::new();
                if let Some(a) = &t.shopify_api {
                    let mut c =
                        shopify::ShopifyConfig::new(&a.shop_url, &a.access_token, settings.clone());
                    if let Some(l) = a.leak_per_second {
                        c.leak_per_second = l;
                    }
                    runs.push(("shopify", shopify::poll_once(&c, &producer).await));
                }
                if let Some(a) = &t.woocommerce_api {
                    let c = woocommerce::WooConfig::new(
                        &a.store_url,
                        &a.consumer_key,
                        &a.consumer_secret,
                        settings.clone(),
                    );
                    runs.push(("woocommerce", woocommerce::poll_once(&c, &producer).await));
                }
                if let Some(a) = &t.amazon_api {
                    let mut c = amazon::AmazonConfig::new(
                        &a.client_id,
                        &a.client_secret,
                        &a.refresh_token,
                        a.marketplace_ids.clone(),
                        settings.clone(),
                    );
                    c.endpoint = a.endpoint.clone();
                    if let Some(u) = &a.token_url {
                        c.token_url = u.clone();
                    }
                    let tokens = amazon_tokens.entry(tenant.to_owned()).or_default();
                    runs.push(("amazon", amazon::poll_once(&c, tokens, &producer).await));
                }
                if let Some(a) = &t.flipkart_api {
                    let mut c =
                        flipkart::FlipkartConfig::new(&a.app_id, &a.app_secret, settings.clone());
                    if let Some(u) = &a.api_base {
                        c.api_base = u.clone();
                    }
                    if let Some(u) = &a.token_url {
                        c.token_url = u.clone();
                    }
                    let tokens = flipkart_tokens.entry(tenant.to_owned()).or_default();
                    runs.push(("flipkart", flipkart::poll_once(&c, tokens, &producer).await));
                }
                for (platform, run) in runs {
                    polled += 1;
                    match run {
                        Ok(s) => eprintln!(
                            "{tenant} {platform}: {} pages, {} objects ({} already filed), {} filed as {} events, {} dead-lettered",
                            s.pages, s.objects, s.already_seen, s.filed, s.events, s.dead_lettered
                        ),
                        Err(e) => {
                            failed += 1;
                            eprintln!("{tenant} {platform}: {e}");
                        }
                    }
                }
            }
            (polled, failed)
        };
        // Ctrl-C stops a poll in flight too: its cursors stay as they were, so the next poll
        // reads the same objects again and files them under the same ids.
        let (polled, failed) = tokio::select! {
            r = round => r,
            _ = shutdown.wait() => {
                eprintln!("poll interrupted; cursors unchanged for what was in flight");
                return Ok(());
            }
        };
        if polled == 0 {
            bail!(
                "no tenant has [tenants.<id>.shopify_api], .woocommerce_api, .amazon_api or .flipkart_api in the secrets file"
            );
        }
        let Some(secs) = every else {
            if failed > 0 {
                bail!("{failed} of {polled} polls failed");
            }
            return Ok(());
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}

/// Everything `mindset serve` answers: webhooks, the track API, the storefront script, and the
/// connections API when `connect` is given.
pub fn app(
    ingest: crate::ingest::IngestState,
    connect: Option<crate::connect::ConnectState>,
) -> axum::Router {
    let app = crate::ingest::router(ingest);
    match connect {
        Some(c) => app.merge(crate::connect::router(c)),
        None => app,
    }
}

/// The environment variable holding the bearer token of `/api/connections`; unset, that API is
/// not served.
pub const ADMIN_TOKEN_ENV: &str = "MINDSET_ADMIN_TOKEN";

/// Serve the webhook endpoints, the track API and (with [`ADMIN_TOKEN_ENV`] set) the connections
/// API on `addr` with `threads` serving threads ([`crate::serve`]), filing on the configured
/// log, until Ctrl-C or SIGTERM; requests in flight are finished first.
pub async fn serve(
    config: &Config,
    addr: std::net::SocketAddr,
    secrets: &std::path::Path,
    public_url: Option<String>,
    threads: usize,
) -> Result<()> {
    let secrets = crate::ingest::Secrets::load(secrets)?;
    let tenants = secrets.tenants().collect::<Vec<_>>().join(", ");
    let log = config.open_log()?;
    log.ensure_topics(&mindset_topics::all()).await?;
    let state = crate::ingest::IngestState::new(log.producer()?, secrets);
    let joins = state.identities().restore(&log).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let at = listener.local_addr()?;
    eprintln!(
        "ingest on http://{at}/webhooks/<platform>/<tenant> and the track API on http://{at}/v1/<call> ({} log; tenants: {tenants}; {joins} identity joins restored; {threads} serving threads)",
        log.backend_name()
    );
    let mut shutdown = Shutdown::on_signals();
    let connect = match std::env::var(ADMIN_TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => {
            let public = public_url.unwrap_or_else(|| format!("http://{at}"));
            eprintln!(
                "connections API on http://{at}/api/connections (webhooks registered for {public})"
            );
            Some(crate::connect::ConnectState::new(
                crate::connect::ConnectConfig::new(&config.data_dir, token.trim(), &public),
                log.producer()?,
            )?)
        }
        _ => {
            eprintln!("connections API off: set {ADMIN_TOKEN_ENV} to serve /api/connections");
            None
        }
    };
    crate::serve::serve_on_threads(
        listener,
        app(state, connect),
        threads,
        "mindset-http",
        async move { shutdown.wait().await },
    )
    .await?;
    eprintln!("ingest stopped");
    Ok(())
}

/// Every stream-app `mindset run` knows, in flow order.
pub const APPS: [&str; 2] = [mindset_nlp::NAME, mindset_enrich::NAME];

/// Run one stream-app by name.
pub async fn run_app(
    app: &str,
    log: &Log,
    opts: &RunOptions,
    shutdown: Shutdown,
) -> Result<RunStats> {
    let stats = match app {
        mindset_nlp::NAME => {
            mindset_nlp::run(log, mindset_nlp::NlpConfig::default(), opts, shutdown).await?
        }
        mindset_enrich::NAME => {
            mindset_enrich::run(log, EnrichConfig::default(), opts, shutdown).await?
        }
        other => bail!("unknown app {other}; the apps are: {}", APPS.join(", ")),
    };
    eprintln!(
        "{app}: consumed {}, produced {}, dead-lettered {}",
        stats.consumed, stats.produced, stats.dead_lettered
    );
    Ok(stats)
}

fn topic_by_name(name: &str) -> Result<&'static TopicSpec> {
    mindset_topics::by_name(name).with_context(|| {
        let names: Vec<&str> = mindset_topics::all().iter().map(|t| t.name).collect();
        format!(
            "unknown topic {name}; declared topics: {}",
            names.join(", ")
        )
    })
}

async fn topics_list(log: &Log) -> Result<()> {
    println!(
        "{:<26} {:>4} {:<12} {:<26} {:>10}",
        "topic", "part", "retention", "dead letters", "records"
    );
    for t in mindset_topics::all() {
        let records = match log.end_offsets(t).await {
            Ok(ends) => ends.iter().sum::<u64>().to_string(),
            Err(_) => "-".to_owned(),
        };
        println!(
            "{:<26} {:>4} {:<12} {:<26} {:>10}",
            t.name,
            t.partitions,
            format!("{:?}", t.retention),
            t.dead_letter.unwrap_or("-"),
            records
        );
    }
    Ok(())
}

/// Append the canonical events of a JSON-lines file; refuses the whole file if any line is bad.
pub async fn produce(config: &Config, file: PathBuf, dry_run: bool) -> Result<()> {
    let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let events = read_jsonl(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", file.display()))?;
    let (by_topic, rejected) = mindset_pipeline::publish::prepare(&events);
    if !rejected.is_empty() {
        let lines: Vec<String> = rejected
            .iter()
            .map(|(i, reason)| format!("{}:{}: {reason}", file.display(), i + 1))
            .collect();
        bail!(
            "{} of {} events refused; nothing written:\n{}",
            rejected.len(),
            events.len(),
            lines.join("\n")
        );
    }
    if dry_run {
        for (name, (_, recs)) in by_topic {
            println!("{name}: {} records would be appended", recs.len());
        }
        return Ok(());
    }
    let log = config.open_log()?;
    log.ensure_topics(&mindset_topics::all()).await?;
    let report = publish(&log.producer()?, &events, 10_000).await?;
    for (name, n) in &report.appended {
        println!("{name}: {n} records appended");
    }
    Ok(())
}

async fn tail(log: &Log, topic: &str, limit: usize) -> Result<()> {
    let spec = topic_by_name(topic)?;
    let group = format!("mindset-tail-{}", std::process::id());
    let mut c = log.consumer(&group, &[spec])?;
    let mut shown = 0;
    let mut idle = 0;
    while shown < limit && idle < 3 {
        let batch = c.poll(limit - shown, Duration::from_millis(500)).await?;
        if batch.is_empty() {
            idle += 1;
        }
        for m in batch {
            let value = match spec.value_schema {
                Some("canonical_event") => match CanonicalEvent::decode_value(&m.value) {
                    Ok(ev) => serde_json::to_value(ev)?,
                    Err(e) => serde_json::json!({ "undecodable": e.to_string() }),
                },
                Some("customer_features") => match CustomerFeatures::decode_value(&m.value) {
                    Ok(f) => serde_json::to_value(f)?,
                    Err(e) => serde_json::json!({ "undecodable": e.to_string() }),
                },
                Some("text_insight") => match TextInsight::decode_value(&m.value) {
                    Ok(i) => serde_json::to_value(i)?,
                    Err(e) => serde_json::json!({ "undecodable": e.to_string() }),
                },
                None if spec.name == mindset_topics::ENRICH_STATE.spec.name => {
                    enrich_state_json(&m)
                }
                _ => serde_json::json!({
                    "bytes": m.value.len(),
                    "headers": m.headers.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect::<BTreeMap<_, _>>(),
                }),
            };
            println!(
                "{}",
                serde_json::json!({
                    "partition": m.partition,
                    "offset": m.offset,
                    "key": String::from_utf8_lossy(&m.key),
                    "value": value,
                })
            );
            shown += 1;
        }
    }
    Ok(())
}

/// An enrich changelog record as JSON (its epoch marker as the number it holds).
fn enrich_state_json(m: &mindset_pipeline::Message) -> serde_json::Value {
    use mindset_enrich::core::{StateId, state_json};
    use mindset_topics::{EntityKey, KeyCodec};
    let epoch = m
        .header("epoch")
        .map(|e| String::from_utf8_lossy(e).into_owned());
    let state = EntityKey::decode_key(&m.key)
        .map_err(|e| e.to_string())
        .and_then(|k| match k.tenant.as_str() {
            "" => Ok(serde_json::json!({ k.id: String::from_utf8_lossy(&m.value) })),
            _ => state_json(&StateId::parse(&k.id)?, &m.value),
        });
    match state {
        Ok(v) => serde_json::json!({ "epoch": epoch, "state": v }),
        Err(e) => serde_json::json!({ "undecodable": e }),
    }
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub events: u64,
    pub appended: BTreeMap<String, u64>,
    pub read: u64,
    pub customers: usize,
    pub by_type: BTreeMap<String, u64>,
    pub log_file: PathBuf,
    /// Customers with a snapshot in customer.features.v1 after enrich ran.
    pub features: usize,
    /// Records in text.insights.v1 after nlp ran.
    pub insights: usize,
}

/// Which sentiment model the demo's nlp step runs.
#[derive(Debug, Clone)]
pub enum DemoModels {
    /// Prepare the default model first (`mindset models prepare`: trained once, then cached).
    Prepare,
    /// The prepared model in this folder, as it is (the VADER lexicon when there is none).
    Use(PathBuf),
}

/// The sample shop through a fresh embedded log in `dir`: generate, publish, read back, then the
/// stream-apps (nlp, enrich) until they have consumed everything.
pub async fn demo(small: bool, dir: PathBuf, models: DemoModels) -> Result<DemoReport> {
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let mut config = Config::defaults();
    config.data_dir = dir.clone();
    config.log.backend = Backend::Embedded;
    let log = config.open_log()?;
    log.ensure_topics(&mindset_topics::all()).await?;

    let t0 = Instant::now();
    let shop = if small {
        GenConfig::small()
    } else {
        GenConfig::standard()
    };
    let events = generate(&shop);
    let gen_time = t0.elapsed();
    println!(
        "Mindset demo: a sample shop of {} customers, {} events over {} months on Shopify, WooCommerce, Amazon, Flipkart and the storefront (generated in {:.2?}, seed {}).",
        shop.customers,
        events.len(),
        shop.months,
        gen_time,
        shop.seed
    );

    let producer = log.producer()?;
    let bar = indicatif::ProgressBar::new(events.len() as u64).with_message("appending to the log");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:22} {bar:40} {pos}/{len} {per_sec}")
            .expect("style"),
    );
    let t1 = Instant::now();
    let mut appended: BTreeMap<&str, u64> = BTreeMap::new();
    for chunk in events.chunks(10_000) {
        let report = publish(&producer, chunk, 10_000).await?;
        if !report.rejected.is_empty() {
            bail!(
                "sample events refused: {:?}",
                &report.rejected[..report.rejected.len().min(3)]
            );
        }
        for (k, v) in report.appended {
            *appended.entry(k).or_default() += v;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let append_time = t1.elapsed();
    println!(
        "Appended {} events durably in {:.2?} ({:.0} events/s): {}.",
        events.len(),
        append_time,
        events.len() as f64 / append_time.as_secs_f64(),
        appended
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Read everything back as a consumer group would, decode it, and check per-customer order.
    let t2 = Instant::now();
    let inputs = [
        &mindset_topics::CUSTOMER_EVENTS.spec,
        &mindset_topics::CATALOG_EVENTS.spec,
    ];
    let mut c = log.consumer("demo-reader", &inputs)?;
    let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_platform: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_seen: BTreeMap<Vec<u8>, (i64, u64)> = BTreeMap::new();
    let mut customers = std::collections::BTreeSet::new();
    let mut read = 0u64;
    let mut idle = 0;
    while read < events.len() as u64 && idle < 10 {
        let batch = c.poll(20_000, Duration::from_millis(300)).await?;
        if batch.is_empty() {
            idle += 1;
            continue;
        }
        for m in &batch {
            let ev = CanonicalEvent::decode_value(&m.value)
                .with_context(|| format!("{}/{}@{}", m.topic, m.partition, m.offset))?;
            *by_type.entry(ev.payload.type_name()).or_default() += 1;
            *by_platform.entry(format!("{:?}", ev.platform)).or_default() += 1;
            if let Some(k) = &ev.customer_key {
                customers.insert(k.clone());
            }
            // The log keeps each key's records in the order they were appended.
            let seq = last_seen.entry(m.key.clone()).or_insert((i64::MIN, 0));
            seq.1 += 1;
            seq.0 = ev.occurred_at;
        }
        read += batch.len() as u64;
        c.commit_messages(&batch).await?;
    }
    let read_time = t2.elapsed();
    if read != events.len() as u64 {
        bail!("read back {read} of {} events", events.len());
    }
    println!(
        "Read back and decoded {read} events in {:.2?} ({:.0} events/s): {} customers, {} keys.",
        read_time,
        read as f64 / read_time.as_secs_f64(),
        customers.len(),
        last_seen.len()
    );
    println!(
        "By event type: {}",
        by_type
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "By platform:   {}",
        by_platform
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let opts = RunOptions {
        stop_when_caught_up: true,
        // Everything is on the log already: short polls, so waiting is not counted as work.
        poll_timeout: Duration::from_millis(20),
        batch: 10_000,
        ..RunOptions::default()
    };
    // The nlp stream-app, as `mindset run nlp` runs it, with the sentiment model prepared first.
    let sentiment_dir = match models {
        DemoModels::Prepare => match tokio::task::spawn_blocking(crate::models::prepare).await? {
            Ok(prepared) => prepared.dir,
            Err(e) => {
                println!(
                    "The sentiment model could not be prepared ({e:#}); nlp reads with the VADER lexicon instead."
                );
                mindset_nlp::sentiment::default_dir()
            }
        },
        DemoModels::Use(dir) => dir,
    };
    let t_nlp = Instant::now();
    let nlp_config = mindset_nlp::NlpConfig {
        sentiment_dir,
        ..mindset_nlp::NlpConfig::default()
    };
    let nlp_stats = mindset_nlp::run(&log, nlp_config, &opts, Shutdown::new()).await?;
    let nlp_time = t_nlp.elapsed();
    let insights = read_topic::<TextInsight>(&log, &mindset_topics::TEXT_INSIGHTS.spec).await?;
    println!(
        "nlp: {} events -> {} text insights in {:.2?} ({:.0} texts/s).",
        nlp_stats.consumed,
        insights.len(),
        nlp_time,
        insights.len() as f64 / nlp_time.as_secs_f64()
    );
    print_insight_summary(&insights);

    // The enrich stream-app, as `mindset run enrich` runs it, until it has consumed everything.
    let t3 = Instant::now();
    let stats = run_app(mindset_enrich::NAME, &log, &opts, Shutdown::new()).await?;
    let enrich_time = t3.elapsed();
    let snapshots = latest_features(&log).await?;
    println!(
        "enrich: {} events -> {} feature snapshots in {:.2?} ({:.0} events/s); {} customers in customer.features.v1.",
        stats.consumed,
        stats.produced,
        enrich_time,
        stats.consumed as f64 / enrich_time.as_secs_f64(),
        snapshots.len()
    );
    print_rfm_summary(&snapshots);
    print_text_features(&snapshots);
    let log_file = config.embedded_path();
    println!();
    println!("Where to look:");
    println!(
        "  the log files:       {} and its journal {}",
        log_file.display(),
        mindset_pipeline::embedded::journal_path(&log_file).display()
    );
    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "mindset".to_owned());
    let data = format!("MINDSET_DATA_DIR={}", dir.display());
    println!("  topics and sizes:    {data} {bin} topics list");
    println!("  the events:          {data} {bin} tail customer.events.v1 --limit 5");
    println!("  text insights:       {data} {bin} tail text.insights.v1 --limit 5");
    println!("  customer features:   {data} {bin} tail customer.features.v1 --limit 5");
    println!(
        "  the same as JSONL:   {bin} sample generate{} --out shop.jsonl",
        if small { " --small" } else { "" }
    );
    println!("  architecture:        docs/ARCHITECTURE.md");
    Ok(DemoReport {
        events: events.len() as u64,
        appended: appended
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        read,
        customers: customers.len(),
        by_type: by_type
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        log_file,
        features: snapshots.len(),
        insights: insights.len(),
    })
}

/// The latest snapshot per customer in customer.features.v1 (what compaction keeps).
pub async fn latest_features(log: &Log) -> Result<BTreeMap<Vec<u8>, CustomerFeatures>> {
    latest_by_key(log, &mindset_topics::CUSTOMER_FEATURES.spec).await
}

/// The latest record per key of `spec`, decoded, read to the topic's end.
pub async fn latest_by_key<V: ValueCodec>(
    log: &Log,
    spec: &'static TopicSpec,
) -> Result<BTreeMap<Vec<u8>, V>> {
    Ok(read_topic::<V>(log, spec).await?.into_iter().collect())
}

/// Every record of `spec` as (key, value), in log order per partition, read to the topic's end.
pub async fn read_topic<V: ValueCodec>(
    log: &Log,
    spec: &'static TopicSpec,
) -> Result<Vec<(Vec<u8>, V)>> {
    let total: u64 = log.end_offsets(spec).await?.iter().sum();
    let group = format!("mindset-read-{}-{}", spec.name, std::process::id());
    let mut c = log.consumer(&group, &[spec])?;
    let mut out = Vec::new();
    let mut idle = 0;
    while (out.len() as u64) < total && idle < 10 {
        let batch = c.poll(20_000, Duration::from_millis(300)).await?;
        if batch.is_empty() {
            idle += 1;
        }
        for m in batch {
            let v = V::decode_value(&m.value)
                .with_context(|| format!("{}/{}@{}", m.topic, m.partition, m.offset))?;
            out.push((m.key, v));
        }
    }
    Ok(out)
}

fn print_insight_summary(insights: &[(Vec<u8>, TextInsight)]) {
    use mindset_schemas::insights::{SentimentLabel, TextKind};
    let (reviews, messages) = insights.iter().fold((0, 0), |(r, m), (_, i)| match i.kind {
        TextKind::Review => (r + 1, m),
        TextKind::Message => (r, m + 1),
    });
    let positive = insights
        .iter()
        .filter(|(_, i)| i.sentiment.label == SentimentLabel::Positive)
        .count();
    let mut dominant: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, i) in insights {
        if let Some(e) = &i.emotions {
            let a = e.to_array();
            let best = (0..7).fold(0, |b, k| if a[k] > a[b] { k } else { b });
            *dominant
                .entry(mindset_schemas::insights::EmotionScores::LABELS[best])
                .or_default() += 1;
        }
    }
    println!(
        "Texts read: {reviews} reviews and {messages} customer messages; {:.1} % positive.{}",
        100.0 * positive as f64 / insights.len().max(1) as f64,
        if dominant.is_empty() {
            String::new()
        } else {
            format!(
                " Dominant emotions: {}.",
                dominant
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if let Some((_, i)) = insights.first() {
        println!("Models: {}.", i.models);
    }
}

/// What enrich made of the customers' texts.
fn print_text_features(snapshots: &BTreeMap<Vec<u8>, CustomerFeatures>) {
    let with_texts: Vec<&CustomerFeatures> = snapshots.values().filter(|f| f.texts > 0).collect();
    if with_texts.is_empty() {
        return;
    }
    let souring = with_texts
        .iter()
        .filter(|f| f.sentiment_trend.is_some_and(|t| t <= -0.3))
        .count();
    let negative = with_texts
        .iter()
        .filter(|f| f.sentiment_mean.is_some_and(|m| m < 0.0))
        .count();
    let mut confidence: Vec<f64> = with_texts
        .iter()
        .filter_map(|f| f.ocean_confidence)
        .map(|c| c.to_array().into_iter().fold(0.0, f64::max))
        .filter(|c| *c > 0.0)
        .collect();
    confidence.sort_by(f64::total_cmp);
    println!(
        "Texts in the features: {} customers wrote; {} read negative on average, {} souring (trend <= -0.3); Big Five evidence for {}{}.",
        with_texts.len(),
        negative,
        souring,
        confidence.len(),
        confidence
            .last()
            .map(|max| format!(
                " (best-read trait's confidence: median {:.2}, highest {max:.2})",
                confidence[confidence.len() / 2]
            ))
            .unwrap_or_default()
    );
}

fn print_rfm_summary(snapshots: &BTreeMap<Vec<u8>, CustomerFeatures>) {
    let buyers: Vec<&CustomerFeatures> = snapshots.values().filter(|f| f.orders > 0).collect();
    let champions = buyers
        .iter()
        .filter(|f| f.r_score >= 4 && f.f_score >= 4 && f.m_score >= 4)
        .count();
    let at_risk = buyers
        .iter()
        .filter(|f| f.r_score <= 2 && f.f_score >= 3)
        .count();
    let one_time = buyers.iter().filter(|f| f.orders == 1).count();
    println!(
        "RFM: {} buyers and {} customers without an order; champions (R, F, M >= 4) {}, at risk (R <= 2, F >= 3) {}, one-time buyers {}.",
        buyers.len(),
        snapshots.len() - buyers.len(),
        champions,
        at_risk,
        one_time
    );
    let scored: Vec<&&CustomerFeatures> = buyers.iter().filter(|f| f.p_alive.is_some()).collect();
    if !scored.is_empty() {
        let likely_gone = scored
            .iter()
            .filter(|f| f.p_alive.unwrap_or(1.0) < 0.3)
            .count();
        let expected: f64 = scored.iter().filter_map(|f| f.expected_orders_90d).sum();
        let clv: i64 = scored.iter().filter_map(|f| f.clv_12m_minor).sum();
        println!(
            "BG/NBD + Gamma-Gamma (fitted on this shop): {likely_gone} buyers likely gone (P(alive) < 0.3), {expected:.0} orders expected in the next 90 days, 12-month CLV {:.0} {}.",
            clv as f64 / 100.0,
            scored[0].shop_currency
        );
    }
    if let Some(top) = buyers
        .iter()
        .max_by_key(|f| (f.monetary_minor, f.customer_key.clone()))
    {
        println!(
            "Top spender: {}: {} orders, {:.2} {} net, R{} F{} M{}, {:.0} views per order, {:.0}% of checkouts abandoned.",
            top.customer_key,
            top.orders,
            top.monetary_minor as f64 / 100.0,
            top.shop_currency,
            top.r_score,
            top.f_score,
            top.m_score,
            top.browse_to_buy,
            top.cart_abandonment_rate * 100.0
        );
    }
}
