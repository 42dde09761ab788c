//! The sweep's HTML report: one self-contained file (inline SVG plots drawn by plotters, no
//! script, nothing fetched) with the command, the per-cell table, the plots and the replay
//! commands of failures.

use plotters::prelude::*;

use super::stats::{CellStats, Percentiles};
use super::{CallRecord, Spec};
use crate::cli::call::FailureCause;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 340;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report.
pub fn report(spec: &Spec, cells: &[CellStats], calls: &[CallRecord]) -> String {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>callsim sweep</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222}\ntable{border-collapse:collapse;font-size:0.9em}\ntd,th{border:1px solid #ccc;padding:0.2em 0.5em;text-align:right}\ncode{background:#f3f3f3;padding:0.1em 0.3em}\nfigure{margin:1em 0}\n</style>\n</head>\n<body>\n<h1>callsim sweep</h1>\n");
    let total: u64 = cells.iter().map(|c| c.attempted).sum();
    let ok: u64 = cells.iter().map(|c| c.ok).sum();
    html.push_str(&format!(
        "<p id=\"summary\">{} cell(s), {total} call(s), {ok} as asked ({:.1}%).</p>\n<p>Made by: <code id=\"command\">{}</code></p>\n",
        cells.len(),
        if total > 0 { 100.0 * ok as f64 / total as f64 } else { 0.0 },
        escape(&spec.command())
    ));
    html.push_str("<h2>Cells</h2>\n<table id=\"cells\">\n<tr><th>cell</th>");
    for axis in &spec.axes {
        html.push_str(&format!("<th>{}</th>", escape(&axis.name)));
    }
    html.push_str("<th>calls</th><th>rang</th><th>connected</th><th>success</th><th>connect p50</th><th>connect p90</th><th>connect p99</th><th>media loss</th><th>MOS</th></tr>\n");
    let ms = |v: Option<u64>| v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into());
    for c in cells {
        html.push_str(&format!("<tr><td>{}</td>", c.cell));
        for (_, v) in &c.conditions {
            html.push_str(&format!("<td>{}</td>", escape(v)));
        }
        html.push_str(&format!(
            "<td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>\n",
            c.attempted,
            c.rang,
            c.connected,
            100.0 * c.success_rate,
            ms(c.connect_ms.p50),
            ms(c.connect_ms.p90),
            ms(c.connect_ms.p99),
            c.media_loss_pct,
            c.mos.map(|m| format!("{m:.2}")).unwrap_or_else(|| "-".into())
        ));
    }
    html.push_str("</table>\n<h2>Plots</h2>\n");
    for (i, axis) in spec.axes.iter().enumerate() {
        if axis.values.len() < 2 {
            continue;
        }
        let marginal: Vec<(f64, Percentiles)> = axis
            .values
            .iter()
            .map(|value| {
                let mine: Vec<&CallRecord> = calls
                    .iter()
                    .filter(|c| {
                        cells
                            .get(c.cell)
                            .is_some_and(|cell| cell.conditions[i].1 == *value)
                    })
                    .collect();
                let ok = mine
                    .iter()
                    .filter(|c| c.metrics.as_ref().is_some_and(|m| m.cause.is_none()))
                    .count();
                let mut connect: Vec<u64> = mine
                    .iter()
                    .filter_map(|c| c.metrics.as_ref()?.connect_ms)
                    .collect();
                let rate = if mine.is_empty() {
                    0.0
                } else {
                    100.0 * ok as f64 / mine.len() as f64
                };
                (rate, Percentiles::of(&mut connect))
            })
            .collect();
        let unit = axis.condition().unit();
        let label = if unit.is_empty() {
            axis.name.clone()
        } else {
            format!("{} ({unit})", axis.name)
        };
        let rates: Vec<f64> = marginal.iter().map(|(r, _)| *r).collect();
        figure(
            &mut html,
            &format!("success-vs-{}", axis.name),
            &format!("Success rate against {}", axis.name),
            &line_chart(
                &format!("success rate (%) by {}", axis.name),
                &label,
                &axis.values,
                &[("success %", &rates, BLUE)],
                100.0,
            ),
        );
        let p50: Vec<f64> = marginal
            .iter()
            .map(|(_, p)| p.p50.unwrap_or(0) as f64)
            .collect();
        let p90: Vec<f64> = marginal
            .iter()
            .map(|(_, p)| p.p90.unwrap_or(0) as f64)
            .collect();
        let top = p90.iter().copied().fold(1.0, f64::max) * 1.1;
        figure(
            &mut html,
            &format!("connect-vs-{}", axis.name),
            &format!("Time to connect against {}", axis.name),
            &line_chart(
                &format!("time to connect (ms) by {}", axis.name),
                &label,
                &axis.values,
                &[("p50", &p50, GREEN), ("p90", &p90, RED)],
                top,
            ),
        );
    }
    let mut connect: Vec<u64> = calls
        .iter()
        .filter_map(|c| c.metrics.as_ref()?.connect_ms)
        .collect();
    connect.sort_unstable();
    let counts = super::stats::histogram(&connect, &spec.buckets);
    let mut labels: Vec<String> = spec.buckets.iter().map(|b| format!("<={b}")).collect();
    labels.push(format!(">{}", spec.buckets.last().copied().unwrap_or(0)));
    figure(
        &mut html,
        "connect-histogram",
        "Time to connect, all calls (ms)",
        &bar_chart(
            "calls by time to connect (ms)",
            &labels,
            &[("calls", counts.iter().map(|&c| c as f64).collect(), BLUE)],
        ),
    );
    let causes: Vec<(FailureCause, Vec<f64>)> = FailureCause::ALL
        .iter()
        .filter_map(|cause| {
            let per_cell: Vec<f64> = cells
                .iter()
                .map(|c| {
                    c.causes
                        .iter()
                        .find(|k| k.cause == *cause)
                        .map_or(0.0, |k| k.seeds.len() as f64)
                })
                .collect();
            per_cell
                .iter()
                .any(|&n| n > 0.0)
                .then_some((*cause, per_cell))
        })
        .collect();
    let cell_labels: Vec<String> = cells.iter().map(|c| c.cell.to_string()).collect();
    let palette = [RED, MAGENTA, CYAN, GREEN, BLUE, BLACK, YELLOW];
    let series: Vec<(&str, Vec<f64>, RGBColor)> = causes
        .iter()
        .enumerate()
        .map(|(i, (cause, counts))| (cause.as_str(), counts.clone(), palette[i % palette.len()]))
        .collect();
    figure(
        &mut html,
        "failure-causes",
        "Failures by cause, per cell",
        &bar_chart("failed calls by cause, per cell", &cell_labels, &series),
    );
    html.push_str("<h2>Failures and how to replay them</h2>\n<ul id=\"replays\">\n");
    let grid = spec.cells();
    let mut any = false;
    for c in cells {
        for k in &c.causes {
            any = true;
            let seed = k.seeds[0];
            html.push_str(&format!(
                "<li>cell {} ({}): {} x{} (seeds {}): <code>{}</code></li>\n",
                c.cell,
                escape(
                    &c.conditions
                        .iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                k.cause.as_str(),
                k.seeds.len(),
                escape(
                    &k.seeds
                        .iter()
                        .take(10)
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                escape(&spec.replay_command(&grid[c.cell], seed))
            ));
        }
    }
    for call in calls.iter().filter(|c| c.error.is_some()) {
        any = true;
        html.push_str(&format!(
            "<li>cell {} seed {}: simulation error {}: <code>{}</code></li>\n",
            call.cell,
            call.seed,
            escape(call.error.as_deref().unwrap_or_default()),
            escape(&spec.replay_command(&grid[call.cell], call.seed))
        ));
    }
    if !any {
        html.push_str("<li>none: every call did what was asked</li>\n");
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    html
}

fn figure(html: &mut String, id: &str, caption: &str, svg: &str) {
    html.push_str(&format!(
        "<figure id=\"{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
        escape(caption)
    ));
}

/// Lines over categories (the values of a condition), y from 0 to `top`.
fn line_chart(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(&str, &[f64], RGBColor)],
    top: f64,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = categories.len();
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top.max(1.0));
        let Ok(mut chart) = chart else {
            return svg_error(title);
        };
        let label = |x: &f64| category_label(categories, *x);
        let _ = chart
            .configure_mesh()
            .x_labels(n.min(40))
            .x_label_formatter(&label)
            .x_desc(x_label)
            .draw();
        for (name, ys, color) in series {
            let points: Vec<(f64, f64)> =
                ys.iter().enumerate().map(|(i, y)| (i as f64, *y)).collect();
            let color = *color;
            if let Ok(drawn) =
                chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
            let _ = chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())));
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

/// Bars over categories, stacked by series.
fn bar_chart(title: &str, categories: &[String], series: &[(&str, Vec<f64>, RGBColor)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = categories.len().max(1);
        let top = (0..n)
            .map(|i| {
                series
                    .iter()
                    .map(|(_, v, _)| v.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .fold(1.0, f64::max)
            * 1.1;
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top);
        let Ok(mut chart) = chart else {
            return svg_error(title);
        };
        let label = |x: &f64| category_label(categories, *x);
        let _ = chart
            .configure_mesh()
            .x_labels(n.min(40))
            .x_label_formatter(&label)
            .disable_x_mesh()
            .draw();
        let mut base = vec![0.0; n];
        for (name, values, color) in series {
            let color = *color;
            let bars: Vec<Rectangle<(f64, f64)>> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, v)| {
                    let r = Rectangle::new(
                        [(i as f64 - 0.4, base[i]), (i as f64 + 0.4, base[i] + v)],
                        color.filled(),
                    );
                    base[i] += v;
                    r
                })
                .collect();
            if let Ok(drawn) = chart.draw_series(bars) {
                drawn.label(*name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

/// The category at an axis position: its label at whole positions, nothing between them.
fn category_label(categories: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        categories.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

fn svg_error(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"40\"><text x=\"10\" y=\"25\">{}: nothing to plot</text></svg>",
        escape(title)
    )
}
