//! `mindset import <file>`: bulk import of CSV or JSON-lines exports of reviews, chats, orders and
//! customers. This module owns reading the file, checking and mapping its rows to canonical events
//! (pure: [`parse`]), and filing them with a checkpoint ([`run`]).
//!
//! - **Format** by extension: `.csv` (a header row, then one row per line; quoted fields may span
//!   lines) or `.jsonl` / `.ndjson` (one JSON object per line; blank lines are skipped). Columns and
//!   JSON keys have the same names (docs/collect.md, "Columns").
//! - **Kind** by `--kind`, else by the file name (`reviews*.csv` → reviews, `chat*`, `order*`,
//!   `customer*` likewise).
//! - **Bad rows** are reported as `line N: <field>: <reason>`, N the 1-based physical line where the
//!   row starts (the CSV header is line 1). A dry run reports them all and writes nothing; a real
//!   run refuses the whole file if any row is bad (all or nothing per file).
//! - **Events**: platform `IMPORT`; `event_id(tenant, IMPORT, type, [kind, object id])`, so a row
//!   imported twice yields the same id and consumers drop the repeat; `source_id` is the object id.
//!   Every row is also kept as a [`RawPayload`] on `ingest.raw.v1` (platform `import`, source
//!   `import:<kind>`, body = the row as JSON), so normalisation can be replayed.
//! - **Orders** are one row per order line; the rows of one order must be contiguous.
//! - **Resumability**: rows are written in chunks of whole objects ([`Options::chunk_rows`]); after
//!   each durable chunk `<data_dir>/imports/<sha256 of the file>.json` records how many rows are
//!   done. A re-run of the same content skips them.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    io::IsTerminal,
    path::{Path, PathBuf},
};

use mindset_connectors::{
    Context,
    common::{
        currency_code, customer_key, minor_units, normalise_email, raw_payload, utc_naive_millis,
    },
};
use mindset_pipeline::{Log, LogError, publish};
use mindset_schemas::{
    CANONICAL_EVENT, CanonicalEvent, CustomerUpserted, EncodeError, MessageAuthor, MessageChannel,
    MessageReceived, OrderLine, OrderPlaced, Payload, Platform, RawPayload, ReviewPosted, event_id,
};
use mindset_topics::RAW_PAYLOADS;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Rows per durable chunk (and checkpoint) unless [`Options::chunk_rows`] says otherwise.
pub const CHUNK_ROWS: usize = 5_000;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Reviews,
    Chats,
    Orders,
    Customers,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Reviews => "reviews",
            Kind::Chats => "chats",
            Kind::Orders => "orders",
            Kind::Customers => "customers",
        }
    }

    /// The kind a file name announces (`reviews-2025.csv`, `Orders.jsonl`), if any.
    pub fn from_file_name(path: &Path) -> Option<Kind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        [
            ("review", Kind::Reviews),
            ("chat", Kind::Chats),
            ("order", Kind::Orders),
            ("customer", Kind::Customers),
        ]
        .into_iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, k)| k)
    }

    /// The column holding the object id.
    fn id_column(self) -> &'static str {
        match self {
            Kind::Reviews => "review_id",
            Kind::Chats => "message_id",
            Kind::Orders => "order_id",
            Kind::Customers => "customer_id",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The file format, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// One problem of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based physical line where the row starts (the CSV header is line 1).
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// The events and raw payloads of one object (a review, message, customer, or an order of one or
/// more rows): the unit that is never split across chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Data rows it spans.
    pub rows: u64,
    pub events: Vec<CanonicalEvent>,
    pub raws: Vec<RawPayload>,
}

/// A checked file: its units in file order and every problem found.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Data rows (header and blank lines not counted).
    pub rows: u64,
    /// Rows with at least one problem.
    pub bad_rows: u64,
    pub problems: Vec<Problem>,
    /// The good objects (all of the file's when `problems` is empty).
    pub units: Vec<Unit>,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// `None`: inferred from the file name.
    pub kind: Option<Kind>,
    /// Currency of order rows without a `currency` column.
    pub currency: Option<String>,
    pub dry_run: bool,
    /// Rows per durable chunk (rounded up to whole orders).
    pub chunk_rows: usize,
    /// `received_at` of the events, epoch milliseconds.
    pub now: i64,
    /// Draw a progress bar on stderr (only ever when stderr is a terminal).
    pub progress: bool,
}

impl Options {
    /// Defaults: kind from the file name, no default currency, a real run, chunks of
    /// [`CHUNK_ROWS`], the current time, a progress bar.
    pub fn new() -> Options {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as i64);
        Options {
            kind: None,
            currency: None,
            dry_run: false,
            chunk_rows: CHUNK_ROWS,
            now,
            progress: true,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// Progress of one file's import, at `<data_dir>/imports/<sha256 of the file>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub file: String,
    pub kind: Kind,
    pub tenant: String,
    /// Data rows durably written, from the start of the file.
    pub rows_done: u64,
    /// Canonical events durably written so far (raw payloads not counted).
    pub events_written: u64,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub file: PathBuf,
    pub kind: Kind,
    pub dry_run: bool,
    /// Data rows in the file.
    pub rows: u64,
    pub rows_ok: u64,
    pub rows_bad: u64,
    /// Every problem (dry run only; a real run with problems is an [`ImportError::BadRows`]).
    pub problems: Vec<Problem>,
    /// Rows a checkpoint says were imported before this run.
    pub already_done: u64,
    /// Canonical events the rows not yet done map to (written, or that would be written).
    pub events: u64,
    /// Rows and canonical events written by this run (0 for a dry run).
    pub rows_written: u64,
    pub events_written: u64,
    pub checkpoint: PathBuf,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let done = if self.already_done > 0 {
            format!(" (already imported: {} rows)", self.already_done)
        } else {
            String::new()
        };
        if self.dry_run {
            let refused = if self.problems.is_empty() {
                ""
            } else {
                "; a real run would refuse the file until the problems are fixed"
            };
            return write!(
                f,
                "dry run of {} ({}): rows ok {}, rows bad {}; events that would be written {}{done}; nothing written{refused}",
                self.file.display(),
                self.kind,
                self.rows_ok,
                self.rows_bad,
                self.events,
            );
        }
        if self.rows_written == 0 {
            return write!(
                f,
                "{} ({}): already imported: {} rows; nothing to do",
                self.file.display(),
                self.kind,
                self.already_done
            );
        }
        write!(
            f,
            "{} ({}): imported {} rows as {} events and {} raw rows{done}; checkpoint {}",
            self.file.display(),
            self.kind,
            self.rows_written,
            self.events_written,
            self.rows_written,
            self.checkpoint.display()
        )
    }
}

/// Why an import did not run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    /// An event the checks passed was refused when filed (a bug: nothing of its chunk is written).
    #[error("{0}")]
    Refused(String),
    #[error(
        "{} of {rows} rows are bad; nothing written (fix them and run again; --dry-run lists them):\n{}",
        count_lines(problems),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    BadRows { rows: u64, problems: Vec<Problem> },
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    #[error(
        "the log refused a chunk (rows done so far are in the checkpoint; run again to resume): {0}"
    )]
    Log(#[from] LogError),
    #[error("encoding: {0}")]
    Encode(#[from] EncodeError),
}

fn count_lines(problems: &[Problem]) -> usize {
    problems
        .iter()
        .map(|p| p.line)
        .collect::<BTreeSet<_>>()
        .len()
}

// ---------------------------------------------------------------------------------------------
// Filing

/// Import `path` for `tenant` into `log` (see the module docs). A dry run checks everything and
/// writes nothing, neither to the log nor a checkpoint.
pub async fn run(
    log: &Log,
    tenant: &str,
    path: &Path,
    opts: &Options,
    data_dir: &Path,
) -> Result<Report, ImportError> {
    let (parsed, mut report, checkpoint) = check(tenant, path, opts, data_dir)?;
    if opts.dry_run {
        return Ok(report);
    }
    if !parsed.problems.is_empty() {
        return Err(ImportError::BadRows {
            rows: parsed.rows,
            problems: parsed.problems,
        });
    }
    let mut cp = checkpoint.unwrap_or_else(|| Checkpoint {
        file: path.display().to_string(),
        kind: report.kind,
        tenant: tenant.to_owned(),
        rows_done: 0,
        events_written: 0,
    });
    if cp.rows_done >= parsed.rows {
        return Ok(report);
    }
    let bar = if opts.progress && std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(parsed.rows)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:16} {bar:40} {pos}/{len} rows {per_sec}")
            .expect("style"),
    );
    bar.set_message(format!("importing {}", report.kind));
    bar.set_position(cp.rows_done);

    let producer = log.producer()?;
    let mut row_at = 0u64;
    let mut chunk: Vec<&Unit> = Vec::new();
    let mut chunk_rows = 0u64;
    for unit in &parsed.units {
        let end = row_at + unit.rows;
        if end > cp.rows_done {
            chunk.push(unit);
            chunk_rows += unit.rows;
        }
        row_at = end;
        if chunk_rows >= opts.chunk_rows.max(1) as u64 {
            let events = file_chunk(&producer, &chunk).await?;
            cp.rows_done = row_at;
            cp.events_written += events;
            report.rows_written += chunk_rows;
            report.events_written += events;
            save_checkpoint(&report.checkpoint, &cp)?;
            bar.set_position(row_at);
            chunk.clear();
            chunk_rows = 0;
        }
    }
    if !chunk.is_empty() {
        let events = file_chunk(&producer, &chunk).await?;
        cp.rows_done = row_at;
        cp.events_written += events;
        report.rows_written += chunk_rows;
        report.events_written += events;
        save_checkpoint(&report.checkpoint, &cp)?;
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Read and check `path` and its checkpoint; write nothing.
fn check(
    tenant: &str,
    path: &Path,
    opts: &Options,
    data_dir: &Path,
) -> Result<(Parsed, Report, Option<Checkpoint>), ImportError> {
    if tenant.trim().is_empty() || tenant.contains('|') {
        return Err(ImportError::Usage(format!(
            "--tenant {tenant:?} is not a tenant id (non-empty, no '|')"
        )));
    }
    let format = Format::of(path).ok_or_else(|| {
        ImportError::Usage(format!(
            "{}: unknown format; the file name must end in .csv, .jsonl or .ndjson",
            path.display()
        ))
    })?;
    let kind = match opts.kind.or_else(|| Kind::from_file_name(path)) {
        Some(k) => k,
        None => {
            return Err(ImportError::Usage(format!(
                "{}: say what the file holds with --kind reviews|chats|orders|customers (the file name does not start with reviews, chats, orders or customers)",
                path.display()
            )));
        }
    };
    let currency = match &opts.currency {
        Some(c) => {
            Some(currency_code(c).map_err(|e| ImportError::Usage(format!("--currency: {e}")))?)
        }
        None => None,
    };
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let cp_path = checkpoint_path(data_dir, &bytes);
    let checkpoint = load_checkpoint(&cp_path)?;
    if let Some(cp) = &checkpoint
        && (cp.tenant != tenant || cp.kind != kind)
    {
        return Err(ImportError::Checkpoint {
            path: cp_path,
            reason: format!(
                "this file's content was imported as {} for tenant {}; importing it as {kind} for tenant {tenant} needs that checkpoint removed first",
                cp.kind, cp.tenant
            ),
        });
    }
    let ctx = Context::new(tenant, opts.now);
    let parsed = parse(&ctx, kind, format, &bytes, currency.as_deref());
    let already_done = checkpoint
        .as_ref()
        .map_or(0, |c| c.rows_done.min(parsed.rows));
    let mut row_at = 0;
    let mut events = 0;
    for u in &parsed.units {
        row_at += u.rows;
        if row_at > already_done {
            events += u.events.len() as u64;
        }
    }
    let report = Report {
        file: path.to_owned(),
        kind,
        dry_run: opts.dry_run,
        rows: parsed.rows,
        rows_ok: parsed.rows - parsed.bad_rows,
        rows_bad: parsed.bad_rows,
        problems: if opts.dry_run {
            parsed.problems.clone()
        } else {
            Vec::new()
        },
        already_done,
        events,
        rows_written: 0,
        events_written: 0,
        checkpoint: cp_path,
    };
    Ok((parsed, report, checkpoint))
}

/// Write one chunk: raw rows and canonical events, all durable before this returns. Returns the
/// number of canonical events.
async fn file_chunk(
    producer: &mindset_pipeline::Producer,
    chunk: &[&Unit],
) -> Result<u64, ImportError> {
    let mut raws = Vec::new();
    let mut events = Vec::new();
    for u in chunk {
        for raw in &u.raws {
            raws.push(crate::ingest::raw_record(raw)?);
        }
        events.extend(u.events.iter().cloned());
    }
    let (by_topic, rejected) = publish::prepare(&events);
    if let Some((i, reason)) = rejected.first() {
        // `parse` already validated and routed every event; this is a bug, not bad input.
        return Err(ImportError::Refused(format!(
            "event {} ({}) refused: {reason}",
            events[*i].source_id,
            events[*i].payload.type_name()
        )));
    }
    let mut batches = vec![(&RAW_PAYLOADS.spec, raws)];
    batches.extend(by_topic.into_values());
    producer.send_topics(batches).await?;
    Ok(events.len() as u64)
}

fn checkpoint_path(data_dir: &Path, bytes: &[u8]) -> PathBuf {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    data_dir.join("imports").join(format!("{hex}.json"))
}

fn load_checkpoint(path: &Path) -> Result<Option<Checkpoint>, ImportError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ImportError::Checkpoint {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ImportError::Checkpoint {
            path: path.to_owned(),
            reason: format!("unreadable ({e}); remove it to import the file from the start"),
        })
}

/// Write the checkpoint atomically (a temporary file renamed over the old one).
fn save_checkpoint(path: &Path, cp: &Checkpoint) -> Result<(), ImportError> {
    let fail = |e: std::io::Error| ImportError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(cp).expect("checkpoint serialises");
    std::fs::write(&tmp, body).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// `mindset import`: check (dry run, without opening the log) or import, and print the outcome.
/// A dry run with bad rows, and a refused import, end in an error (non-zero exit).
pub async fn command(
    config: &mindset_pipeline::config::Config,
    file: &Path,
    kind: Option<Kind>,
    tenant: &str,
    dry_run: bool,
    currency: Option<String>,
) -> anyhow::Result<()> {
    let opts = Options {
        kind,
        currency,
        dry_run,
        ..Options::new()
    };
    let report = if dry_run {
        check(tenant, file, &opts, &config.data_dir)?.1
    } else {
        let log = config.open_log()?;
        log.ensure_topics(&mindset_topics::all()).await?;
        run(&log, tenant, file, &opts, &config.data_dir).await?
    };
    println!("{report}");
    if !report.problems.is_empty() {
        anyhow::bail!("{} bad rows in {}", report.rows_bad, file.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

/// One data row: where it starts, its fields, and its bytes for the raw payload.
struct Row {
    line: u64,
    fields: Map<String, Value>,
    body: Vec<u8>,
}

/// Read, check and map every row of `bytes`. `default_currency` is `--currency` (already
/// checked).
pub fn parse(
    ctx: &Context<'_>,
    kind: Kind,
    format: Format,
    bytes: &[u8],
    default_currency: Option<&str>,
) -> Parsed {
    let mut problems = Vec::new();
    let rows = match format {
        Format::Csv => csv_rows(bytes, &mut problems),
        Format::Jsonl => jsonl_rows(bytes, &mut problems),
    };
    // Rows that could not be read at all are bad rows too (header problems are not rows).
    let unreadable = problems.iter().filter(|p| p.field == "row").count() as u64;
    let mut mapper = Mapper {
        ctx,
        kind,
        default_currency,
        units: Vec::new(),
        problems,
        seen: HashMap::new(),
        order: None,
        bad_lines: BTreeSet::new(),
    };
    for row in &rows {
        mapper.row(row);
    }
    mapper.finish_order();
    let bad_rows = mapper.bad_lines.len() as u64 + unreadable;
    let mut problems = mapper.problems;
    problems.sort_by_key(|p| p.line);
    Parsed {
        rows: rows.len() as u64 + unreadable,
        bad_rows,
        problems,
        units: mapper.units,
    }
}

fn csv_rows(bytes: &[u8], problems: &mut Vec<Problem>) -> Vec<Row> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            problems.push(csv_problem(&e, "header"));
            return Vec::new();
        }
    };
    let mut dupes = BTreeSet::new();
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) && dupes.insert(h.clone()) {
            problems.push(Problem {
                line: 1,
                field: "header".into(),
                reason: format!("column {h:?} appears more than once"),
            });
        }
    }
    if !dupes.is_empty() {
        return Vec::new();
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let fields: Map<String, Value> = headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_owned())))
                    .collect();
                let body = serde_json::to_vec(&fields).expect("a map of strings serialises");
                rows.push(Row { line, fields, body });
            }
            Err(e) => problems.push(csv_problem(&e, "row")),
        }
    }
    rows
}

fn csv_problem(e: &csv::Error, field: &str) -> Problem {
    let line = e.position().map_or(0, |p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8: {err}"),
        _ => e.to_string(),
    };
    Problem {
        line,
        field: field.into(),
        reason,
    }
}

fn jsonl_rows(bytes: &[u8], problems: &mut Vec<Problem>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let text = raw.strip_suffix(b"\r").unwrap_or(raw);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(fields)) => rows.push(Row {
                line,
                fields,
                body: text.to_vec(),
            }),
            Ok(_) => problems.push(Problem {
                line,
                field: "row".into(),
                reason: "not a JSON object".into(),
            }),
            Err(e) => problems.push(Problem {
                line,
                field: "row".into(),
                reason: format!("not JSON: {e}"),
            }),
        }
    }
    rows
}

/// The fields of one row, checked one by one; problems are collected, not returned early.
struct Fields<'r> {
    row: &'r Row,
    problems: Vec<Problem>,
}

impl<'r> Fields<'r> {
    fn new(row: &'r Row) -> Self {
        Fields {
            row,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, field: &str, reason: impl Into<String>) {
        self.problems.push(Problem {
            line: self.row.line,
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    /// A column's text, trimmed; `None` when absent, empty or null.
    fn opt(&mut self, field: &str) -> Option<String> {
        let text = match self.row.fields.get(field)? {
            Value::Null => return None,
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                self.problem(field, "expected text, a number or a boolean");
                return None;
            }
        };
        (!text.is_empty()).then_some(text)
    }

    fn req(&mut self, field: &str) -> Option<String> {
        let v = self.opt(field);
        if v.is_none() && !self.problems.iter().any(|p| p.field == field) {
            self.problem(field, "missing or empty");
        }
        v
    }

    /// A required or optional timestamp: RFC 3339 or `YYYY-MM-DD HH:MM:SS` (UTC).
    fn time(&mut self, field: &str, required: bool) -> Option<i64> {
        let text = if required {
            self.req(field)?
        } else {
            self.opt(field)?
        };
        match utc_naive_millis(&text) {
            Ok(ms) => Some(ms),
            Err(_) => {
                self.problem(
                    field,
                    format!(
                        "{text:?} is not a timestamp after 1970 (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)"
                    ),
                );
                None
            }
        }
    }

    /// `true`/`false`, `yes`/`no`, `y`/`n`, `1`/`0`; absent is `false`.
    fn flag(&mut self, field: &str) -> bool {
        let Some(text) = self.opt(field) else {
            return false;
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => true,
            "false" | "no" | "n" | "0" => false,
            _ => {
                self.problem(field, format!("{text:?} is not true/false, yes/no or 1/0"));
                false
            }
        }
    }

    /// A valid email address when given.
    fn email(&mut self) -> Option<String> {
        let text = self.opt("email")?;
        let email = normalise_email(&text);
        if email.is_none() {
            self.problem("email", format!("{text:?} is not an email address"));
        }
        email
    }

    /// Who the row is about: an email, a customer id, or both; one is required.
    fn who(&mut self) -> (Option<String>, Option<String>) {
        let before = self.problems.len();
        let email = self.email();
        let id = self.opt("customer_id");
        if email.is_none() && id.is_none() && self.problems.len() == before {
            self.problem(
                "email",
                "neither email nor customer_id is given (one is required)",
            );
        }
        (email, id)
    }

    /// The row's currency, else `default`; a problem when neither and `required`.
    fn currency(&mut self, default: Option<&str>, required: bool) -> Option<String> {
        match self.opt("currency") {
            Some(text) => match currency_code(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.problem("currency", e);
                    None
                }
            },
            None => {
                if default.is_none() && required {
                    self.problem("currency", "missing, and no --currency given");
                }
                default.map(str::to_owned)
            }
        }
    }

    /// A decimal amount in minor units of `currency`, not negative.
    fn money(&mut self, field: &str, text: &str, currency: &str) -> Option<i64> {
        match minor_units(text, currency) {
            Ok(v) if v >= 0 => Some(v),
            Ok(_) => {
                self.problem(field, format!("{text:?} is negative"));
                None
            }
            Err(e) => {
                self.problem(field, e);
                None
            }
        }
    }
}

/// An order being collected from its contiguous rows.
struct OrderDraft {
    order_id: String,
    first_line: u64,
    bad: bool,
    email: Option<String>,
    customer_id: Option<String>,
    created_at: Option<i64>,
    currency: Option<String>,
    total: Option<i64>,
    lines: Vec<OrderLine>,
    discount_codes: Vec<String>,
    raws: Vec<RawPayload>,
}

struct Mapper<'a, 'c> {
    ctx: &'a Context<'c>,
    kind: Kind,
    default_currency: Option<&'a str>,
    units: Vec<Unit>,
    problems: Vec<Problem>,
    /// Object id → first line it appeared on.
    seen: HashMap<String, u64>,
    order: Option<OrderDraft>,
    bad_lines: BTreeSet<u64>,
}

impl Mapper<'_, '_> {
    fn row(&mut self, row: &Row) {
        let mut f = Fields::new(row);
        let id = f.req(self.kind.id_column());
        if self.kind == Kind::Orders {
            self.order_row(row, f, id);
            return;
        }
        if let Some(id) = &id
            && let Some(first) = self.seen.get(id)
        {
            f.problem(
                self.kind.id_column(),
                format!("{id:?} already appears at line {first}"),
            );
        }
        let unit = match self.kind {
            Kind::Reviews => review(&mut f, self.ctx),
            Kind::Chats => message(&mut f, self.ctx),
            Kind::Customers => customer(&mut f, self.ctx),
            Kind::Orders => unreachable!("handled above"),
        };
        if let Some(id) = id {
            self.seen.entry(id).or_insert(row.line);
        }
        let unit = unit.and_then(|(id, ev)| {
            let ev = self.valid(&mut f, ev)?;
            Some(Unit {
                rows: 1,
                events: vec![ev],
                raws: vec![self.raw(&[id], &row.body)],
            })
        });
        match unit {
            Some(u) if f.problems.is_empty() => self.units.push(u),
            _ => self.bad(f.problems),
        }
    }

    fn bad(&mut self, problems: Vec<Problem>) {
        for p in &problems {
            self.bad_lines.insert(p.line);
        }
        self.problems.extend(problems);
    }

    fn raw(&self, ids: &[String], body: &[u8]) -> RawPayload {
        let source = format!("import:{}", self.kind);
        raw_payload(Platform::Import, &source, ids, body, self.ctx)
    }

    /// The checks `publish::prepare` makes, so a real run never stops half-way on a bad event.
    fn valid(&self, f: &mut Fields<'_>, ev: CanonicalEvent) -> Option<CanonicalEvent> {
        let check = publish::validate(&ev).and_then(|()| {
            mindset_topics::route(&ev)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        match check {
            Ok(()) => Some(ev),
            Err(reason) => {
                f.problem("event", reason);
                None
            }
        }
    }

    fn order_row(&mut self, row: &Row, mut f: Fields<'_>, order_id: Option<String>) {
        // A row continuing the open order may leave the order-level columns empty.
        let open = self
            .order
            .as_ref()
            .filter(|o| order_id.as_ref() == Some(&o.order_id));
        let continuing = open.is_some();
        let (email, customer_id) = if continuing {
            (f.email(), f.opt("customer_id"))
        } else {
            f.who()
        };
        let created_at = f.time("created_at", !continuing);
        let currency = if continuing {
            f.currency(None, false)
        } else {
            f.currency(self.default_currency, true)
        };
        let money_currency = currency
            .clone()
            .or_else(|| open.and_then(|o| o.currency.clone()));
        let product_id = f.req("product_id");
        let title = f.req("title");
        let quantity = f.req("quantity").and_then(|q| match q.parse::<i32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                f.problem(
                    "quantity",
                    format!("{q:?} is not a whole number of at least 1"),
                );
                None
            }
        });
        let unit_price = match (f.req("unit_price"), &money_currency) {
            (Some(p), Some(c)) => f.money("unit_price", &p, c),
            _ => None,
        };
        let category = f.opt("category");
        let discount_code = f.opt("discount_code");
        let total = match (f.opt("total"), &money_currency) {
            (Some(t), Some(c)) => f.money("total", &t, c),
            _ => None,
        };

        let Some(order_id) = order_id else {
            // Without an order id the row belongs to no order.
            self.bad(f.problems);
            return;
        };
        if self.order.as_ref().is_none_or(|o| o.order_id != order_id) {
            self.finish_order();
            if let Some(first) = self.seen.get(&order_id) {
                f.problem(
                    "order_id",
                    format!(
                        "order {order_id:?} already ended (it starts at line {first}); the rows of one order must be contiguous"
                    ),
                );
                self.bad(f.problems);
                return;
            }
            self.seen.insert(order_id.clone(), row.line);
            self.order = Some(OrderDraft {
                order_id: order_id.clone(),
                first_line: row.line,
                bad: false,
                email: None,
                customer_id: None,
                created_at: None,
                currency: None,
                total: None,
                lines: Vec::new(),
                discount_codes: Vec::new(),
                raws: Vec::new(),
            });
        }
        let order = self.order.as_mut().expect("an order is open");
        // Order-level columns may be given on every row or only on some; they must agree.
        let first = order.first_line;
        agree(&mut f, "email", &mut order.email, email, first);
        agree(
            &mut f,
            "customer_id",
            &mut order.customer_id,
            customer_id,
            first,
        );
        agree(
            &mut f,
            "created_at",
            &mut order.created_at,
            created_at,
            first,
        );
        agree(&mut f, "currency", &mut order.currency, currency, first);
        agree(&mut f, "total", &mut order.total, total, first);
        if let Some(code) = discount_code
            && !order.discount_codes.contains(&code)
        {
            order.discount_codes.push(code);
        }
        let ordinal = order.raws.len().to_string();
        let raw = raw_payload(
            Platform::Import,
            &format!("import:{}", Kind::Orders),
            &[order_id, ordinal],
            &row.body,
            self.ctx,
        );
        order.raws.push(raw);
        if let (Some(product_id), Some(title), Some(quantity), Some(unit_price_minor)) =
            (product_id, title, quantity, unit_price)
        {
            order.lines.push(OrderLine {
                product_id,
                variant_id: None,
                sku: None,
                title,
                category,
                brand: None,
                quantity,
                unit_price_minor,
                discount_minor: 0,
            });
        }
        if !f.problems.is_empty() {
            order.bad = true;
            self.bad(f.problems);
        }
    }

    /// Close the open order: one `OrderPlaced` over its rows.
    fn finish_order(&mut self) {
        let Some(o) = self.order.take() else {
            return;
        };
        if o.bad {
            return;
        }
        let (Some(created_at), Some(currency)) = (o.created_at, o.currency) else {
            return;
        };
        let subtotal = o.lines.iter().try_fold(0i64, |acc, l| {
            l.unit_price_minor
                .checked_mul(i64::from(l.quantity))
                .and_then(|v| acc.checked_add(v))
        });
        let Some(subtotal_minor) = subtotal else {
            self.bad(vec![Problem {
                line: o.first_line,
                field: "unit_price".into(),
                reason: format!("the lines of order {:?} sum beyond range", o.order_id),
            }]);
            return;
        };
        let key = customer_key(
            Platform::Import,
            o.email.as_deref(),
            o.customer_id.as_deref(),
            &o.order_id,
        );
        let ev = event(
            self.ctx,
            Kind::Orders,
            &o.order_id,
            key,
            created_at,
            Payload::OrderPlaced(OrderPlaced {
                order_id: o.order_id.clone(),
                order_number: None,
                currency,
                lines: o.lines,
                subtotal_minor,
                discount_minor: 0,
                shipping_minor: 0,
                tax_minor: 0,
                total_minor: o.total.unwrap_or(subtotal_minor),
                discount_codes: o.discount_codes,
                financial_status: "paid".into(),
                is_test: false,
                guest: false,
                checkout_id: None,
                channel: None,
            }),
        );
        let row = Row {
            line: o.first_line,
            fields: Map::new(),
            body: Vec::new(),
        };
        let mut f = Fields::new(&row);
        match self.valid(&mut f, ev) {
            Some(ev) => self.units.push(Unit {
                rows: o.raws.len() as u64,
                events: vec![ev],
                raws: o.raws,
            }),
            None => self.bad(f.problems),
        }
    }
}

/// Keep the first value of an order-level column; a later row giving another value is a problem.
fn agree<T: PartialEq + fmt::Debug>(
    f: &mut Fields<'_>,
    field: &str,
    kept: &mut Option<T>,
    value: Option<T>,
    first_line: u64,
) {
    match (kept.as_ref(), value) {
        (_, None) => {}
        (None, Some(v)) => *kept = Some(v),
        (Some(k), Some(v)) if *k == v => {}
        (Some(k), Some(v)) => f.problem(
            field,
            format!(
                "{v:?} differs from {k:?} given earlier for this order (from line {first_line})"
            ),
        ),
    }
}

fn event(
    ctx: &Context<'_>,
    kind: Kind,
    id: &str,
    customer_key: String,
    occurred_at: i64,
    payload: Payload,
) -> CanonicalEvent {
    CanonicalEvent {
        event_id: event_id(
            ctx.tenant_id,
            Platform::Import,
            payload.type_name(),
            &[kind.name(), id],
        ),
        tenant_id: ctx.tenant_id.to_owned(),
        platform: Platform::Import,
        source_id: id.to_owned(),
        customer_key: Some(customer_key),
        occurred_at,
        received_at: ctx.received_at,
        schema_version: CANONICAL_EVENT.latest_version() as i32,
        payload,
    }
}

/// A review row: its id and event, or `None` (with problems in `f`).
fn review(f: &mut Fields<'_>, ctx: &Context<'_>) -> Option<(String, CanonicalEvent)> {
    let id = f.opt("review_id");
    let (email, customer_id) = f.who();
    let product_id = f.req("product_id");
    let rating = f.req("rating").and_then(|r| match r.parse::<i32>() {
        Ok(n @ 1..=5) => Some(n),
        _ => {
            f.problem("rating", format!("{r:?} is not a whole number from 1 to 5"));
            None
        }
    });
    let title = f.opt("title");
    let text = f.req("body");
    let created_at = f.time("created_at", true);
    let language = f.opt("language");
    let verified = f.flag("verified");
    let (id, product_id, rating, text, created_at) =
        (id?, product_id?, rating?, text?, created_at?);
    let key = customer_key(
        Platform::Import,
        email.as_deref(),
        customer_id.as_deref(),
        &id,
    );
    let payload = Payload::ReviewPosted(ReviewPosted {
        review_id: id.clone(),
        product_id: Some(product_id),
        rating,
        title,
        text,
        verified_purchase: verified,
        language,
    });
    let ev = event(ctx, Kind::Reviews, &id, key, created_at, payload);
    Some((id, ev))
}

/// A chat (or support, feedback…) message row.
fn message(f: &mut Fields<'_>, ctx: &Context<'_>) -> Option<(String, CanonicalEvent)> {
    let id = f.opt("message_id");
    let (email, customer_id) = f.who();
    let channel = f
        .req("channel")
        .and_then(|c| match c.to_ascii_lowercase().as_str() {
            "chat" => Some(MessageChannel::Chat),
            "support" => Some(MessageChannel::Support),
            "feedback" => Some(MessageChannel::Feedback),
            "email" => Some(MessageChannel::Email),
            "sms" => Some(MessageChannel::Sms),
            "social" => Some(MessageChannel::Social),
            "other" => Some(MessageChannel::Other),
            _ => {
                f.problem(
                    "channel",
                    format!(
                        "{c:?} is not one of chat, support, feedback, email, sms, social, other"
                    ),
                );
                None
            }
        });
    let thread_id = f.opt("thread_id");
    let author = match f.opt("author") {
        None => Some(MessageAuthor::Customer),
        Some(a) => match a.to_ascii_lowercase().as_str() {
            "customer" => Some(MessageAuthor::Customer),
            "agent" => Some(MessageAuthor::Agent),
            "system" => Some(MessageAuthor::System),
            _ => {
                f.problem(
                    "author",
                    format!("{a:?} is not one of customer, agent, system"),
                );
                None
            }
        },
    };
    let text = f.req("text");
    let created_at = f.time("created_at", true);
    let language = f.opt("language");
    let (id, channel, author, text, created_at) = (id?, channel?, author?, text?, created_at?);
    let key = customer_key(
        Platform::Import,
        email.as_deref(),
        customer_id.as_deref(),
        &id,
    );
    let payload = Payload::MessageReceived(MessageReceived {
        message_id: id.clone(),
        channel,
        thread_id,
        text,
        language,
        author,
    });
    let ev = event(ctx, Kind::Chats, &id, key, created_at, payload);
    Some((id, ev))
}

/// A customer row. Without `created_at` the event's time is the import's.
fn customer(f: &mut Fields<'_>, ctx: &Context<'_>) -> Option<(String, CanonicalEvent)> {
    let id = f.opt("customer_id");
    let email = f.email();
    let phone = f.opt("phone");
    let first_name = f.opt("first_name");
    let last_name = f.opt("last_name");
    let country = f.opt("country");
    let city = f.opt("city");
    let created_at = f.time("created_at", false);
    let accepts_marketing = f.flag("accepts_marketing");
    let id = id?;
    if !f.problems.is_empty() {
        return None;
    }
    let key = customer_key(Platform::Import, email.as_deref(), Some(&id), &id);
    let payload = Payload::CustomerUpserted(CustomerUpserted {
        platform_customer_id: id.clone(),
        email,
        phone,
        first_name,
        last_name,
        country,
        city,
        accepts_marketing,
        platform_created_at: created_at,
        tags: Vec::new(),
    });
    let ev = event(
        ctx,
        Kind::Customers,
        &id,
        key,
        created_at.unwrap_or(ctx.received_at),
        payload,
    );
    Some((id, ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_from_file_name() {
        assert_eq!(
            Kind::from_file_name(Path::new("/x/Reviews-2025.csv")),
            Some(Kind::Reviews)
        );
        assert_eq!(
            Kind::from_file_name(Path::new("orders.jsonl")),
            Some(Kind::Orders)
        );
        assert_eq!(Kind::from_file_name(Path::new("export.csv")), None);
        assert_eq!(Format::of(Path::new("a.NDJSON")), Some(Format::Jsonl));
        assert_eq!(Format::of(Path::new("a.xlsx")), None);
    }

    #[test]
    fn a_row_reports_every_bad_field() {
        let ctx = Context::new("shop-1", 1_767_225_600_000);
        let csv = "review_id,email,product_id,rating,body,created_at\n\
                   r-1,not-an-email,p-1,6,,yesterday\n";
        let parsed = parse(&ctx, Kind::Reviews, Format::Csv, csv.as_bytes(), None);
        let lines: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "line 2: email: \"not-an-email\" is not an email address",
                "line 2: rating: \"6\" is not a whole number from 1 to 5",
                "line 2: body: missing or empty",
                "line 2: created_at: \"yesterday\" is not a timestamp after 1970 (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)",
            ]
        );
        assert_eq!((parsed.rows, parsed.bad_rows), (1, 1));
        assert!(parsed.units.is_empty());
    }
}
