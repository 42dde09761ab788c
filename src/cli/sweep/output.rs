//! The sweep's outputs: the terminal table, CSV and JSON, per cell and per call.
//!
//! `cells.csv`: one row per cell: `cell`, one column per swept condition, `attempted`, `rang`,
//! `connected`, `ok`, `failed`, `errors`, `success_rate`, `ring_p50_ms`, `ring_p90_ms`,
//! `ring_p99_ms`, `connect_p50_ms`, `connect_p90_ms`, `connect_p99_ms`, `frames_sent`,
//! `frames_received`, `media_loss_pct`, `jitter_ms`, `rtt_ms`, `mos`, one column per failure
//! cause (its count), then `connect_le_<B>ms` per bucket and `connect_gt_<last>ms`. Empty
//! fields: nothing to measure. `cells.json` holds the same as objects ([`CellStats`]), with
//! the seeds of each cause and the ring histogram. `calls.csv`: `cell`, the conditions,
//! `seed`, `ok`, `cause`, `ring_ms`, `connect_ms`, `ended`, `frames_sent`, `frames_received`,
//! `packets_lost`, `jitter_ms`, `rtt_ms`, `error`, `replay`.

use std::io::Write;

use super::stats::{CellStats, cell_stats};
use super::{CallRecord, Spec};
use crate::cli::CliError;
use crate::cli::call::FailureCause;

/// The statistics of every cell.
pub fn aggregate(spec: &Spec, calls: &[CallRecord]) -> Vec<CellStats> {
    spec.cells()
        .into_iter()
        .enumerate()
        .map(|(i, conditions)| {
            let mine: Vec<&CallRecord> = calls.iter().filter(|c| c.cell == i).collect();
            let latency = conditions
                .iter()
                .find(|(n, _)| n == "media-latency")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(20.0);
            cell_stats(i, conditions, &mine, &spec.buckets, latency)
        })
        .collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn fixed(v: Option<f64>, places: usize) -> String {
    v.map(|v| format!("{v:.places$}")).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The table on the terminal.
pub fn table(spec: &Spec, cells: &[CellStats], out: &mut impl Write) -> Result<(), CliError> {
    let mut header: Vec<String> = spec.axes.iter().map(|a| a.name.clone()).collect();
    header.extend(
        [
            "calls",
            "rang",
            "conn",
            "ok%",
            "ring p50",
            "conn p50",
            "conn p90",
            "loss%",
            "MOS",
            "top failure",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for c in cells {
        let mut row: Vec<String> = c.conditions.iter().map(|(_, v)| v.clone()).collect();
        let ms = |v: Option<u64>| v.map(|v| format!("{v}ms")).unwrap_or_else(|| "-".into());
        let top = c
            .causes
            .iter()
            .max_by_key(|k| (k.seeds.len(), std::cmp::Reverse(k.cause)))
            .map(|k| format!("{} x{}", k.cause.as_str(), k.seeds.len()))
            .unwrap_or_else(|| {
                if c.errors > 0 {
                    format!("errors x{}", c.errors)
                } else {
                    "-".into()
                }
            });
        row.extend([
            c.attempted.to_string(),
            c.rang.to_string(),
            c.connected.to_string(),
            format!("{:.1}", 100.0 * c.success_rate),
            ms(c.ring_ms.p50),
            ms(c.connect_ms.p50),
            ms(c.connect_ms.p90),
            format!("{:.1}", c.media_loss_pct),
            c.mos
                .map(|m| format!("{m:.2}"))
                .unwrap_or_else(|| "-".into()),
            top,
        ]);
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// `cells.csv`.
pub fn cells_csv(spec: &Spec, cells: &[CellStats]) -> String {
    let mut header: Vec<String> = vec!["cell".into()];
    header.extend(spec.axes.iter().map(|a| a.name.clone()));
    header.extend(
        [
            "attempted",
            "rang",
            "connected",
            "ok",
            "failed",
            "errors",
            "success_rate",
            "ring_p50_ms",
            "ring_p90_ms",
            "ring_p99_ms",
            "connect_p50_ms",
            "connect_p90_ms",
            "connect_p99_ms",
            "frames_sent",
            "frames_received",
            "media_loss_pct",
            "jitter_ms",
            "rtt_ms",
            "mos",
        ]
        .map(String::from),
    );
    header.extend(FailureCause::ALL.iter().map(|c| c.as_str().to_owned()));
    header.extend(spec.buckets.iter().map(|b| format!("connect_le_{b}ms")));
    header.push(format!(
        "connect_gt_{}ms",
        spec.buckets.last().copied().unwrap_or(0)
    ));
    let mut text = header.join(",") + "\n";
    for c in cells {
        let mut row: Vec<String> = vec![c.cell.to_string()];
        row.extend(c.conditions.iter().map(|(_, v)| csv_field(v)));
        row.extend([
            c.attempted.to_string(),
            c.rang.to_string(),
            c.connected.to_string(),
            c.ok.to_string(),
            c.failed.to_string(),
            c.errors.to_string(),
            format!("{:.4}", c.success_rate),
            opt(c.ring_ms.p50),
            opt(c.ring_ms.p90),
            opt(c.ring_ms.p99),
            opt(c.connect_ms.p50),
            opt(c.connect_ms.p90),
            opt(c.connect_ms.p99),
            c.frames_sent.to_string(),
            c.frames_received.to_string(),
            format!("{:.3}", c.media_loss_pct),
            fixed(c.jitter_ms, 3),
            fixed(c.rtt_ms, 1),
            fixed(c.mos, 2),
        ]);
        row.extend(FailureCause::ALL.iter().map(|cause| {
            c.causes
                .iter()
                .find(|k| k.cause == *cause)
                .map_or(0, |k| k.seeds.len())
                .to_string()
        }));
        row.extend(c.connect_histogram.iter().map(u64::to_string));
        text += &(row.join(",") + "\n");
    }
    text
}

/// `cells.json`.
pub fn cells_json(spec: &Spec, cells: &[CellStats]) -> Result<String, CliError> {
    let value = serde_json::json!({
        "command": spec.command(),
        "spec": spec,
        "cells": cells,
    });
    serde_json::to_string_pretty(&value)
        .map(|t| t + "\n")
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// `calls.csv`.
pub fn calls_csv(spec: &Spec, calls: &[CallRecord]) -> String {
    let cells = spec.cells();
    let mut header: Vec<String> = vec!["cell".into()];
    header.extend(spec.axes.iter().map(|a| a.name.clone()));
    header.extend(
        [
            "seed",
            "ok",
            "cause",
            "ring_ms",
            "connect_ms",
            "ended",
            "frames_sent",
            "frames_received",
            "packets_lost",
            "jitter_ms",
            "rtt_ms",
            "error",
            "replay",
        ]
        .map(String::from),
    );
    let mut text = header.join(",") + "\n";
    for call in calls {
        let Some(cell) = cells.get(call.cell) else {
            continue;
        };
        let mut row: Vec<String> = vec![call.cell.to_string()];
        row.extend(cell.iter().map(|(_, v)| csv_field(v)));
        row.push(call.seed.to_string());
        match &call.metrics {
            Some(m) => {
                let both = [&m.caller, &m.callee];
                row.extend([
                    m.cause.is_none().to_string(),
                    m.cause.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                    opt(m.ring_ms),
                    opt(m.connect_ms),
                    m.ended.to_string(),
                    both.iter()
                        .map(|s| s.audio_frames_sent + s.video_frames_sent)
                        .sum::<u64>()
                        .to_string(),
                    both.iter()
                        .map(|s| s.audio_frames_received + s.video_frames_received)
                        .sum::<u64>()
                        .to_string(),
                    both.iter().map(|s| s.packets_lost).sum::<u64>().to_string(),
                    format!("{:.3}", (m.caller.jitter_ms + m.callee.jitter_ms) / 2.0),
                    opt(m.callee.rtt_ms.or(m.caller.rtt_ms)),
                    String::new(),
                ]);
            }
            None => {
                row.extend(["false".to_owned()]);
                row.extend(std::iter::repeat_n(String::new(), 9));
                row.push(csv_field(call.error.as_deref().unwrap_or_default()));
            }
        }
        row.push(csv_field(&spec.replay_command(cell, call.seed)));
        text += &(row.join(",") + "\n");
    }
    text
}

/// `calls.json`.
pub fn calls_json(spec: &Spec, calls: &[CallRecord]) -> Result<String, CliError> {
    let cells = spec.cells();
    let rows: Vec<serde_json::Value> = calls
        .iter()
        .map(|call| {
            let cell = cells.get(call.cell).cloned().unwrap_or_default();
            serde_json::json!({
                "cell": call.cell,
                "conditions": cell,
                "seed": call.seed,
                "metrics": call.metrics,
                "error": call.error,
                "replay": spec.replay_command(&cell, call.seed),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "command": spec.command(), "calls": rows }))
        .map(|t| t + "\n")
        .map_err(|e| CliError::Failed(e.to_string()))
}
