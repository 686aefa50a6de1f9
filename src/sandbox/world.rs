//! Which tickets exist in the sandbox: any well-formed id (the open world) or exactly the
//! ones listed in a `--tickets` file (CSV or NDJSON with `id,status,source,customerId,title`).
//!
//! Self-contained on purpose: the ticket file describes the *server's* world, not a job's
//! input rows, so it shares nothing with `crate::input`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::api::{TICKET_ID_MAX_CHARS, is_ticket_id};

/// The tickets the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum World {
    /// Every well-formed `tic_…` id exists: an open `portal` ticket, created on first touch.
    Open,
    /// Exactly these tickets exist, in this order; any other id is 404.
    Fixed(Vec<TicketSeed>),
}

impl World {
    /// For worlds built in code (tests): the same id rules a `--tickets` file obeys.
    pub fn validate(&self) -> anyhow::Result<()> {
        let World::Fixed(seeds) = self else {
            return Ok(());
        };
        let mut seen = std::collections::HashSet::with_capacity(seeds.len());
        for seed in seeds {
            if !is_ticket_id(&seed.id) {
                bail!(
                    "ticket id {:?} is not valid; ids are `tic_` followed by 1 to {TICKET_ID_MAX_CHARS} letters or digits",
                    seed.id
                );
            }
            if !seen.insert(seed.id.as_str()) {
                bail!(
                    "ticket {} is defined twice; each id may appear once",
                    seed.id
                );
            }
        }
        Ok(())
    }
}

/// One ticket as the sandbox starts with it (no messages yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSeed {
    pub id: String,
    pub status: Status,
    pub source: Source,
    pub customer_id: Option<String>,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Portal,
    Email,
    Chat,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "open" => Some(Status::Open),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }
}

impl Source {
    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "portal" => Some(Source::Portal),
            "email" => Some(Source::Email),
            "chat" => Some(Source::Chat),
            _ => None,
        }
    }
}

/// One line of a tickets file, before validation. Every field is text so that a bad value
/// gets our own message (with the line number) rather than a deserializer's.
#[derive(Debug, Deserialize)]
struct RawSeed {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default, rename = "customerId", alias = "customer_id")]
    customer_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// Reads a tickets file. NDJSON when the name ends in `.ndjson`/`.jsonl`/`.json`, CSV
/// otherwise. Every error names the file and the line, and says what to fix.
pub fn load_world(path: &Path) -> anyhow::Result<World> {
    let file = File::open(path).with_context(|| {
        format!(
            "cannot open tickets file {}; check the --tickets path",
            path.display()
        )
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let raw = match extension.as_str() {
        "ndjson" | "jsonl" | "json" => read_ndjson(path, BufReader::new(file))?,
        _ => read_csv(path, file)?,
    };
    let mut seeds = Vec::with_capacity(raw.len());
    let mut first_line_of: HashMap<String, u64> = HashMap::with_capacity(raw.len());
    for (line, raw) in raw {
        let seed = validate(raw)
            .map_err(|problem| anyhow::anyhow!("{} line {line}: {problem}", path.display()))?;
        if let Some(first) = first_line_of.insert(seed.id.clone(), line) {
            bail!(
                "{} line {line}: ticket {} is already defined on line {first}; each id may appear once",
                path.display(),
                seed.id
            );
        }
        seeds.push(seed);
    }
    if seeds.is_empty() {
        bail!(
            "{}: no tickets found; expected a header line `id,status,source,customerId,title` \
             (CSV) or one JSON object per line (NDJSON), then one ticket per line",
            path.display()
        );
    }
    Ok(World::Fixed(seeds))
}

fn read_csv(path: &Path, file: File) -> anyhow::Result<Vec<(u64, RawSeed)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .with_context(|| format!("{} line 1: cannot read the CSV header", path.display()))?
        .clone();
    if !headers.iter().any(|h| h == "id") {
        bail!(
            "{} line 1: the CSV header has no `id` column; expected `id,status,source,customerId,title`",
            path.display()
        );
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{} line {line}: {e}", path.display())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let raw: RawSeed = record
            .deserialize(Some(&headers))
            .map_err(|e| anyhow::anyhow!("{} line {line}: {e}", path.display()))?;
        rows.push((line, raw));
    }
    Ok(rows)
}

fn read_ndjson(path: &Path, reader: impl BufRead) -> anyhow::Result<Vec<(u64, RawSeed)>> {
    let mut rows = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index as u64 + 1;
        let line =
            line.with_context(|| format!("{} line {number}: cannot read", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawSeed = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "{} line {number}: not a JSON object with id, status, source, customerId, title ({e})",
                path.display()
            )
        })?;
        rows.push((number, raw));
    }
    Ok(rows)
}

fn validate(raw: RawSeed) -> Result<TicketSeed, String> {
    let id = raw.id.unwrap_or_default();
    if !is_ticket_id(&id) {
        return Err(format!(
            "ticket id {id:?} is not valid; ids are `tic_` followed by 1 to {TICKET_ID_MAX_CHARS} letters or digits"
        ));
    }
    let status_text = raw.status.unwrap_or_default();
    let status = Status::parse(&status_text)
        .ok_or_else(|| format!("status {status_text:?} is not `open` or `closed`"))?;
    let source_text = raw.source.unwrap_or_default();
    let source = Source::parse(&source_text)
        .ok_or_else(|| format!("source {source_text:?} is not `portal`, `email` or `chat`"))?;
    let customer_id = raw.customer_id.filter(|c| !c.is_empty());
    if let Some(customer) = &customer_id
        && !customer.starts_with("cst_")
    {
        return Err(format!(
            "customerId {customer:?} does not start with `cst_`; leave it empty for none"
        ));
    }
    Ok(TicketSeed {
        id,
        status,
        source,
        customer_id,
        title: raw.title.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    #[test]
    fn reads_csv_and_ndjson_alike() {
        let (_d1, csv) = file_with(
            "t.csv",
            "id,status,source,customerId,title\ntic_a1,closed,email,cst_1,Invoice\ntic_b2,open,chat,,Chat\n",
        );
        let (_d2, nd) = file_with(
            "t.ndjson",
            "{\"id\":\"tic_a1\",\"status\":\"closed\",\"source\":\"email\",\"customerId\":\"cst_1\",\"title\":\"Invoice\"}\n\n\
             {\"id\":\"tic_b2\",\"status\":\"open\",\"source\":\"chat\",\"customerId\":null,\"title\":\"Chat\"}\n",
        );
        let from_csv = load_world(&csv).unwrap();
        assert_eq!(from_csv, load_world(&nd).unwrap());
        let World::Fixed(seeds) = from_csv else {
            panic!("expected a fixed world")
        };
        assert_eq!(seeds[0].customer_id.as_deref(), Some("cst_1"));
        assert_eq!(seeds[1].source, Source::Chat);
        assert_eq!(seeds[1].customer_id, None);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "a.csv",
                "id,status,source\ntic_1,open,portal\ntic_2,pending,portal\n",
                "line 3",
                "pending",
            ),
            (
                "b.csv",
                "id,status,source\nticket9,open,portal\n",
                "line 2",
                "ticket9",
            ),
            (
                "c.csv",
                "id,status,source\ntic_1,open,fax\n",
                "line 2",
                "fax",
            ),
            (
                "d.csv",
                "id,status,source\ntic_1,open,portal\ntic_1,open,portal\n",
                "line 3",
                "line 2",
            ),
            (
                "e.ndjson",
                "{\"id\":\"tic_1\",\"status\":\"open\",\"source\":\"portal\"}\n{oops\n",
                "line 2",
                "JSON",
            ),
            ("f.csv", "status,source\nopen,portal\n", "line 1", "`id`"),
            ("g.csv", "id,status,source\n", "no tickets", "header"),
        ];
        for (name, text, where_, what) in cases {
            let (_dir, path) = file_with(name, text);
            let message = format!("{:#}", load_world(&path).unwrap_err());
            assert!(message.contains(name), "{name}: {message}");
            assert!(message.contains(where_), "{name}: {message}");
            assert!(message.contains(what), "{name}: {message}");
        }
    }

    #[test]
    fn worlds_built_in_code_obey_the_same_id_rules() {
        let seed = |id: &str| TicketSeed {
            id: id.into(),
            status: Status::Open,
            source: Source::Portal,
            customer_id: None,
            title: String::new(),
        };
        assert!(
            World::Fixed(vec![seed("tic_1"), seed("tic_2")])
                .validate()
                .is_ok()
        );
        assert!(
            World::Fixed(vec![seed("tic_1"), seed("tic_1")])
                .validate()
                .is_err()
        );
        assert!(World::Fixed(vec![seed("ticket")]).validate().is_err());
        assert!(World::Open.validate().is_ok());
    }
}
