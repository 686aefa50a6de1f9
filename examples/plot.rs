//! Draws the benchmark figures from the files `benches/compare.sh` writes.
//!
//! `cargo run --release --example plot -- [RESULTS_DIR]` (default `benches/results`). Reads
//! `compare.csv`, `scale_rss.csv` + `scale.json` and `pacing.csv` + `pacing.json`, and writes
//! `throughput.svg`, `scale_rss.svg` and `pacing.svg` beside them. A missing input skips its
//! figure with a note, so each part of the benchmark can be re-run on its own.

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

type Result<T> = std::result::Result<T, Box<dyn Error>>;
/// Draws one figure from the files in a results directory; returns the file written.
type Figure = fn(&Path) -> Result<PathBuf>;

const SIZE: (u32, u32) = (820, 420);
const FONT: &str = "sans-serif";
const OURS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const PEER: RGBColor = RGBColor(0x99, 0x99, 0x99);
const LIMIT: RGBColor = RGBColor(0xd6, 0x27, 0x28);

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "benches/results".into()),
    );
    let figures: [(&str, Figure); 3] = [
        ("compare.csv", throughput),
        ("scale_rss.csv", scale_rss),
        ("pacing.csv", pacing),
    ];
    for (input, draw) in figures {
        if dir.join(input).exists() {
            let written = draw(&dir)?;
            println!("wrote {}", written.display());
        } else {
            println!("skipped the figure from {input}: not in {}", dir.display());
        }
    }
    Ok(())
}

/// Reads a CSV file with a header into rows of fields.
fn read_csv(path: &Path) -> Result<Vec<csv::StringRecord>> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(reader.records().collect::<std::result::Result<_, _>>()?)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn number(record: &csv::StringRecord, index: usize) -> Result<f64> {
    let field = record.get(index).unwrap_or("");
    field
        .parse()
        .map_err(|_| format!("not a number in column {index}: {field:?}").into())
}

/// Pairs of numbers from the first two columns.
fn series(path: &Path) -> Result<Vec<(f64, f64)>> {
    read_csv(path)?
        .iter()
        .map(|r| Ok((number(r, 0)?, number(r, 1)?)))
        .collect()
}

/// Rows/s per tool, median of the runs, one bar each.
fn throughput(dir: &Path) -> Result<PathBuf> {
    // Columns: tool, rows, concurrency, runs, complete_runs, rows_per_s, peak_rss_mib, speedup.
    let records = read_csv(&dir.join("compare.csv"))?;
    let tools: Vec<(String, f64, f64)> = records
        .iter()
        .filter_map(|r| {
            let rate = number(r, 5).ok()?; // an incomplete tool has no median: no bar
            Some((r.get(0)?.to_string(), rate, number(r, 1).ok()?))
        })
        .collect();
    if tools.is_empty() {
        return Err("compare.csv has no tool with a complete run".into());
    }
    let concurrency = records.first().and_then(|r| r.get(2)).unwrap_or("?");
    let top = tools.iter().map(|t| t.1).fold(1.0, f64::max) * 1.15;
    let out = dir.join("throughput.svg");
    let root = SVGBackend::new(&out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Rows/s posted to the sandbox, limit off, concurrency {concurrency} (median)"),
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        // A discrete range includes its end: 0..n-1 gives one segment per tool.
        .build_cartesian_2d((0..tools.len() - 1).into_segmented(), 0.0..top)?;
    let names: Vec<String> = tools.iter().map(|t| t.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(tools.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("rows per second")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let ours = tools.first().map(|t| t.1).unwrap_or(0.0);
    chart.draw_series(tools.iter().enumerate().map(|(i, (_, rate, _))| {
        let colour = if i == 0 { OURS } else { PEER };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *rate),
            ],
            colour.filled(),
        );
        bar.set_margin(0, 0, 30, 30);
        bar
    }))?;
    chart.draw_series(tools.iter().enumerate().map(|(i, (_, rate, rows))| {
        let label = if i == 0 {
            format!("{rate:.0}/s ({rows:.0} rows)")
        } else {
            format!(
                "{rate:.0}/s: bulk-reply {:.2}× ({rows:.0} rows)",
                ours / rate
            )
        };
        Text::new(
            label,
            (SegmentValue::CenterOf(i), rate + top * 0.02),
            (FONT, 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    root.present()?;
    // The backend borrows the path until it is dropped.
    drop(chart);
    drop(root);
    Ok(out)
}

/// Resident memory of bulk-reply over the 1,000,000-row run, against the 64 MiB budget.
fn scale_rss(dir: &Path) -> Result<PathBuf> {
    let points: Vec<(f64, f64)> = series(&dir.join("scale_rss.csv"))?
        .into_iter()
        .map(|(t, kib)| (t, kib / 1024.0))
        .collect();
    let summary = read_json(&dir.join("scale.json")).unwrap_or(Value::Null);
    let end = points.last().map(|p| p.0).unwrap_or(1.0).max(1.0);
    let out = dir.join("scale_rss.svg");
    let root = SVGBackend::new(&out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "bulk-reply RSS while sending {} rows ({:.0} rows/s), sampled every 100 ms",
                summary["rows"],
                summary["rows_per_s"].as_f64().unwrap_or(0.0)
            ),
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..72.0)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("RSS (MiB)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(points, OURS.stroke_width(2)))?
        .label("VmRSS of bulk-reply")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OURS.stroke_width(2)));
    chart
        .draw_series(LineSeries::new([(0.0, 64.0), (end, 64.0)], LIMIT))?
        .label("target: at most 64 MiB")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], LIMIT));
    legend(&mut chart)?;
    root.present()?;
    // The backend borrows the path until it is dropped.
    drop(chart);
    drop(root);
    Ok(out)
}

/// Rows completed in each trailing second of a run at the server's limit, against the rate.
fn pacing(dir: &Path) -> Result<PathBuf> {
    let points = series(&dir.join("pacing.csv"))?;
    let summary = read_json(&dir.join("pacing.json")).unwrap_or(Value::Null);
    let rate = summary["rate_per_s"].as_f64().unwrap_or(0.0);
    let end = points.last().map(|p| p.0).unwrap_or(1.0).max(1.0);
    let top = points.iter().map(|p| p.1).fold(rate, f64::max) * 1.3;
    let out = dir.join("pacing.svg");
    let root = SVGBackend::new(&out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} rows at --rate {rate}/s, sandbox limited to {rate}/s: {} × 429, server's peak {}/s, {}s (ideal {}s)",
                summary["rows"],
                summary["responses_429"],
                summary["peak_requests_per_window"],
                summary["send_span_seconds"],
                summary["ideal_seconds"]
            ),
            (FONT, 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first row was sent")
        .y_desc("rows recorded as sent in the last second")
        .draw()?;
    chart
        .draw_series(LineSeries::new(points, OURS.stroke_width(2)))?
        .label("achieved: journal's sent records, trailing 1 s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OURS.stroke_width(2)));
    chart
        .draw_series(LineSeries::new([(0.0, rate), (end, rate)], LIMIT))?
        .label("configured rate = server limit")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], LIMIT));
    legend(&mut chart)?;
    root.present()?;
    // The backend borrows the path until it is dropped.
    drop(chart);
    drop(root);
    Ok(out)
}

type LineChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend(chart: &mut LineChart<'_>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}
