//! Self-contained HTML reports with SVG plots drawn by plotters: event-study coefficients with
//! their intervals and the pre-trend test, treated against synthetic series with the gap and the
//! placebo gaps, the RDD binned scatter with the local fits, the discovered graph, and the
//! propensity overlap. One file, no scripts, no external assets: it opens anywhere.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Write as _;

use crate::api::causal::{AdvancedResponse, DataInfo};
use crate::api::estimate::{DidOutput, DiscoveryOutput, EffectOutput, MethodOutput};
use crate::llm::counterfactual::{Scenario, SummaryRow};
use crate::llm::{Explanation, Grounding};
use liftos_estimators::iv::weak::ArSet;
use liftos_estimators::synth::SynthResult;
use liftos_estimators::{Estimate, Inference};

const W: u32 = 760;
const H: u32 = 340;
const TREATED: RGBColor = RGBColor(200, 55, 45);
const CONTROL: RGBColor = RGBColor(40, 90, 170);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// HTML-escape text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

/// A check's value as its rule reads it: a share as a percentage (the synthetic control's
/// pre-period RMSPE against "<= 5% of the treated unit's level" as 46.6%, not 0.4663), the rest
/// as numbers.
fn check_value(method: &str, name: &str, v: f64) -> String {
    match crate::llm::facts::check_unit(method, name) {
        crate::llm::format::Unit::Share if v.is_finite() => {
            crate::llm::format::display(v, crate::llm::format::Unit::Share)
        }
        _ => fmt(v),
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.06;
    (lo - pad, hi + pad)
}

/// A plot that failed to draw says so in the report instead of failing the analysis.
fn or_note(r: Result<String, String>) -> String {
    r.unwrap_or_else(|e| format!("<p class=\"note\">plot not drawn: {}</p>", esc(&e)))
}

type DrawResult = Result<String, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white chart with a caption, axes and their labels: the frame every plot here shares.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: impl AsRef<str>,
    x: (f64, f64),
    y: (f64, f64),
    (x_desc, dates): (&str, Times<'_>),
    y_desc: &str,
) -> Result<Chart<'a, 'b>, String> {
    frame_xy(root, title, x, y, (x_desc, dates), y_desc, (None, None))
}

/// An axis's label formatter.
type Label<'a> = &'a dyn Fn(&f64) -> String;

/// [`frame`] with the axes' labels written by the formatters given (None: as numbers, or dates).
fn frame_xy<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: impl AsRef<str>,
    x: (f64, f64),
    y: (f64, f64),
    (x_desc, dates): (&str, Times<'_>),
    y_desc: &str,
    (x_label, y_label): (Option<Label>, Option<Label>),
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title.as_ref(), ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(64)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    let as_date = move |x: &f64| dates.label(*x);
    let as_number = |x: &f64| tick(*x);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc).y_desc(y_desc).light_line_style(WHITE);
    if dates.dated() {
        mesh.x_label_formatter(&as_date);
    } else {
        mesh.x_label_formatter(x_label.unwrap_or(&as_number));
    }
    mesh.y_label_formatter(y_label.unwrap_or(&as_number));
    mesh.draw().map_err(err)?;
    Ok(chart)
}

/// How a plot's time axis is labelled.
#[derive(Clone, Copy)]
enum Times<'a> {
    /// As numbers (periods numbered by the user).
    Numbers,
    /// Days since 1970-01-01 (the stored records' `time`), as dates.
    Days,
    /// Periods of a time column of dates, as their dates.
    Periods(&'a crate::api::estimate::AxisSummary),
}

impl Times<'_> {
    fn dated(self) -> bool {
        !matches!(self, Times::Numbers)
    }

    fn label(self, x: f64) -> String {
        match self {
            Times::Numbers => fmt(x),
            Times::Days => calendar_day(x),
            Times::Periods(a) => a.date_of(x).map_or_else(|| fmt(x), str::to_string),
        }
    }
}

/// A time value that counts days since 1970-01-01 (the stored records' `time`), as its date.
fn calendar_day(x: f64) -> String {
    chrono::NaiveDate::default()
        .checked_add_signed(chrono::Duration::days(x.round() as i64))
        .map_or_else(|| fmt(x), |d| d.format("%Y-%m-%d").to_string())
}

/// The chart's legend (its labelled series) at `pos`, on a pale box.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, pos: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(pos)
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(err)
}

/// A line in a chart.
struct Line {
    label: Option<String>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    width: u32,
    alpha: f64,
}

/// Lines over one x axis, with an optional vertical marker (the treatment) and a zero line.
/// `x`: the axis's name, and whether its values are calendar days (then labelled as dates).
fn lines_chart(
    title: &str,
    x: (&str, Times<'_>),
    y_desc: &str,
    lines: &[Line],
    vline: Option<f64>,
    zero: bool,
) -> DrawResult {
    let x = if x.1.dated() { ("date", x.1) } else { x };
    let (x0, x1) = range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let (y0, y1) = range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).chain(zero.then_some(0.0)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let mut chart = frame(&root, title, (x0, x1), (y0, y1), x, y_desc)?;
        if zero {
            chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5))).map_err(err)?;
        }
        if let Some(v) = vline {
            chart
                .draw_series(LineSeries::new([(v, y0), (v, y1)], ShapeStyle::from(BLACK.mix(0.6)).stroke_width(1)))
                .map_err(err)?;
        }
        let mut labelled = false;
        for l in lines {
            let style = ShapeStyle::from(l.color.mix(l.alpha)).stroke_width(l.width);
            let s = chart.draw_series(LineSeries::new(l.points.iter().copied(), style)).map_err(err)?;
            if let Some(label) = &l.label {
                labelled = true;
                s.label(label.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
        }
        if labelled {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Event-study coefficients with their pointwise intervals and, when given, the uniform band
/// (wide pale bars behind them); the reference period is at zero.
pub fn event_study_svg(
    points: &[(i64, f64, f64, f64)],
    uniform: &[(i64, f64, f64)],
    pre_trend_p: Option<f64>,
) -> DrawResult {
    let (x0, x1) = range(points.iter().map(|p| p.0 as f64));
    let (y0, y1) =
        range(points.iter().flat_map(|p| [p.2, p.3]).chain(uniform.iter().flat_map(|u| [u.1, u.2])).chain([0.0]));
    let band = if uniform.is_empty() { "" } else { "; pale: uniform band" };
    let title = match pre_trend_p {
        Some(p) => format!("Event study (pre-trend test p = {}{band})", fmt(p)),
        None if !band.is_empty() => "Event study (pale: uniform band)".to_string(),
        None => "Event study".to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let mut chart =
            frame(&root, title, (x0, x1), (y0, y1), ("periods relative to treatment", Times::Numbers), "effect")?;
        chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5))).map_err(err)?;
        chart.draw_series(LineSeries::new([(-0.5, y0), (-0.5, y1)], BLACK.mix(0.4))).map_err(err)?;
        let color = |t: i64| if t < 0 { CONTROL } else { TREATED };
        chart
            .draw_series(uniform.iter().map(|&(t, lo, hi)| {
                PathElement::new(
                    vec![(t as f64, lo), (t as f64, hi)],
                    ShapeStyle::from(color(t).mix(0.25)).stroke_width(9),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|&(t, _, lo, hi)| {
                PathElement::new(vec![(t as f64, lo), (t as f64, hi)], ShapeStyle::from(color(t)).stroke_width(2))
            }))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|&(t, e, _, _)| Circle::new((t as f64, e), 4, color(t).filled())))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Binned means of the outcome on each side of the cutoff and the estimator's two local fits
/// within the bandwidth.
pub fn rdd_svg(plot: &liftos_estimators::rdd::RddPlot) -> DrawResult {
    let cutoff = plot.cutoff;
    let fits = || plot.fit_left.iter().chain(&plot.fit_right);
    let (lo, hi) = range(plot.bins.iter().map(|b| b.0).chain(fits().map(|p| p.0)));
    let (y0, y1) = range(plot.bins.iter().map(|b| b.1).chain(fits().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let mut chart = frame(
            &root,
            format!("Regression discontinuity at {}", fmt(cutoff)),
            (lo, hi),
            (y0, y1),
            ("running variable (binned means)", Times::Numbers),
            "outcome",
        )?;
        chart.draw_series(LineSeries::new([(cutoff, y0), (cutoff, y1)], BLACK.mix(0.5))).map_err(err)?;
        chart.draw_series(plot.bins.iter().map(|&(bx, by)| Circle::new((bx, by), 3, GREY.filled()))).map_err(err)?;
        for (fit, color) in [(&plot.fit_left, CONTROL), (&plot.fit_right, TREATED)] {
            chart
                .draw_series(LineSeries::new(fit.iter().copied(), ShapeStyle::from(color).stroke_width(3)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The discovered graph: variables on a circle, directed edges with arrowheads, undirected ones
/// as plain lines.
pub fn graph_svg(variables: &[String], edges: &[(String, String, bool)]) -> DrawResult {
    let n = variables.len().max(1);
    let (cx, cy, r) = (W as f64 / 2.0, 250.0, 190.0);
    let pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let at = |name: &str| variables.iter().position(|v| v == name).map(|i| pos[i]);
    let px = |p: (f64, f64)| (p.0.round() as i32, p.1.round() as i32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new("Discovered causal graph", (12, 10), ("sans-serif", 17))).map_err(err)?;
        let node_r = 30.0;
        for (from, to, directed) in edges {
            let (Some(a), Some(b)) = (at(from), at(to)) else { continue };
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = (dx * dx + dy * dy).sqrt().max(1e-9);
            let (ux, uy) = (dx / len, dy / len);
            let start = (a.0 + ux * node_r, a.1 + uy * node_r);
            let end = (b.0 - ux * node_r, b.1 - uy * node_r);
            let color = if *directed { BLACK } else { GREY };
            root.draw(&PathElement::new(vec![px(start), px(end)], ShapeStyle::from(color).stroke_width(2)))
                .map_err(err)?;
            if *directed {
                let (bx, by) = (end.0 - ux * 12.0, end.1 - uy * 12.0);
                let (nx, ny) = (-uy * 6.0, ux * 6.0);
                root.draw(&Polygon::new(vec![px(end), px((bx + nx, by + ny)), px((bx - nx, by - ny))], BLACK.filled()))
                    .map_err(err)?;
            }
        }
        for (v, &p) in variables.iter().zip(&pos) {
            root.draw(&Circle::new(px(p), node_r as i32, ShapeStyle::from(RGBColor(235, 240, 250)).filled()))
                .map_err(err)?;
            root.draw(&Circle::new(px(p), node_r as i32, ShapeStyle::from(CONTROL).stroke_width(2))).map_err(err)?;
            let label: String = v.chars().take(14).collect();
            let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(label, px(p), style)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Propensity-score histograms: treated above the axis, control below (20 bins on [0, 1]).
pub fn overlap_svg(p: &[f64], treated: &[bool]) -> DrawResult {
    let nb = 20;
    let mut t = vec![0usize; nb];
    let mut c = vec![0usize; nb];
    for (&pi, &di) in p.iter().zip(treated) {
        if !pi.is_finite() {
            continue;
        }
        let b = ((pi * nb as f64).floor() as usize).min(nb - 1);
        if di {
            t[b] += 1;
        } else {
            c[b] += 1;
        }
    }
    let nt = t.iter().sum::<usize>().max(1) as f64;
    let nc = c.iter().sum::<usize>().max(1) as f64;
    let top =
        t.iter().map(|&k| k as f64 / nt).chain(c.iter().map(|&k| k as f64 / nc)).fold(0.0, f64::max).max(0.05) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        // Both halves are shares of their group: the control's, drawn downwards, are labelled
        // as the positive shares they are.
        let share = |y: &f64| format!("{:.2}", y.abs());
        let mut chart = frame_xy(
            &root,
            "Propensity overlap (treated above, control below)",
            (0.0, 1.0),
            (-top, top),
            ("propensity score", Times::Numbers),
            "share of group",
            (None, Some(&share)),
        )?;
        let w = 1.0 / nb as f64;
        chart
            .draw_series((0..nb).map(|i| {
                Rectangle::new([(i as f64 * w, 0.0), ((i + 1) as f64 * w, t[i] as f64 / nt)], TREATED.mix(0.7).filled())
            }))
            .map_err(err)?;
        chart
            .draw_series((0..nb).map(|i| {
                Rectangle::new(
                    [(i as f64 * w, -(c[i] as f64 / nc)), ((i + 1) as f64 * w, 0.0)],
                    CONTROL.mix(0.7).filled(),
                )
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;color:#222;line-height:1.45}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.6em 0}\
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}.pass{color:#1a7f37}.fail{color:#c0392b}.na{color:#888}\
.headline{font-size:1.15em}.note{color:#888;font-style:italic}svg{max-width:100%;height:auto}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n<p class=\"note\">Generated by LiftOS Causal {} at {}.</p>\n{body}\n</body></html>\n",
        esc(title),
        esc(title),
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

fn data_section(info: &DataInfo) -> String {
    let mut s = String::from("<h2>Data</h2><table>");
    let _ = write!(s, "<tr><th>source</th><td>{}</td></tr>", esc(&info.source));
    if let Some(k) = &info.panel_key {
        let _ = write!(s, "<tr><th>panel</th><td>{}</td></tr>", esc(k));
    }
    let _ = write!(s, "<tr><th>rows</th><td>{}</td></tr>", info.rows);
    if let Some(u) = info.units {
        let _ = write!(s, "<tr><th>units</th><td>{u}</td></tr>");
    }
    let _ = write!(s, "<tr><th>columns</th><td>{}</td></tr>", esc(&info.columns.join(", ")));
    if let Some(t) = &info.treatment {
        let _ = write!(
            s,
            "<tr><th>treatment</th><td>{} from {}; treated: {}; control: {}</td></tr>",
            esc(&t.intervention.replace('_', " ")),
            t.assigned_at.date_naive(),
            esc(&t.treated_units.join(", ")),
            esc(&t.control_units.join(", "))
        );
    }
    s.push_str("</table>");
    s
}

/// An amount of the outcome: in `currency` where the outcome is money in a known currency.
fn amount(x: f64, currency: Option<&str>) -> String {
    match currency {
        Some(_) => money(x, currency),
        None => fmt(x),
    }
}

fn headline(inf: &Inference, currency: Option<&str>) -> String {
    let mut s = format!("<p class=\"headline\">estimate <b>{}</b>", amount(inf.estimate, currency));
    if let Some((lo, hi)) = inf.interval() {
        let _ = write!(s, ", interval [{}, {}]", amount(lo, currency), amount(hi, currency));
    }
    match inf.p_value {
        Some(p) if p < 0.001 => s.push_str(", p &lt; 0.001"),
        Some(p) => {
            let _ = write!(s, ", p = {}", fmt(p));
        }
        None => {}
    }
    let _ = write!(s, "<br><span class=\"note\">{}</span>", esc(&inf.inference));
    s.push_str("</p>");
    s
}

/// Weak instruments, or a fuzzy RDD's weak first stage: the Anderson-Rubin set, valid however
/// weak they are, under the headline's interval, which then understates the uncertainty (""
/// when the first stage is strong, and for the other methods).
fn weak_first_stage_note(result: &MethodOutput, currency: Option<&str>) -> String {
    let (ar, f, title, however) = match result {
        MethodOutput::Iv(v) if v.weak_instruments() => {
            (v.anderson_rubin.as_ref(), v.first_stage_f, "Weak instruments", "however weak the instruments")
        }
        MethodOutput::Rdd(v) if v.weak_first_stage() => (
            v.anderson_rubin.as_ref(),
            v.first_stage_f.unwrap_or(f64::NAN),
            "Weak first stage",
            "however small the jump in take-up",
        ),
        _ => return String::new(),
    };
    let Some(ar) = ar else { return String::new() };
    let end = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| amount(x, currency));
    let set = match ar.ar_confidence_set {
        ArSet::Bounded => format!("[{}, {}]", end(ar.ar_ci_low), end(ar.ar_ci_high)),
        ArSet::BoundedWithGaps => {
            format!("within [{}, {}], with gaps inside (a union of intervals)", end(ar.ar_ci_low), end(ar.ar_ci_high))
        }
        ArSet::TwoRays => format!("(−∞, {}] ∪ [{}, ∞)", end(ar.ar_ci_low), end(ar.ar_ci_high)),
        ArSet::UnboundedBelow => format!("(−∞, {}]", end(ar.ar_ci_high)),
        ArSet::UnboundedAbove => format!("[{}, ∞)", end(ar.ar_ci_low)),
        ArSet::WholeLine => "the whole line: the data say nothing about the effect".to_string(),
        ArSet::Empty => "empty: no value of the effect fits the data".to_string(),
    };
    let p = if ar.ar_p_value < 0.001 { "p &lt; 0.001".to_string() } else { format!("p = {}", fmt(ar.ar_p_value)) };
    format!(
        "<p class=\"note\"><b>{title}</b> (first-stage F {}): the interval above understates the \
         uncertainty. The Anderson-Rubin set, valid {however}: {set}; {p} for no effect.</p>",
        fmt(f)
    )
}

/// The report of an `analyze/advanced` run: per method its estimate, checks, assumptions and
/// plots; then the comparison.
/// `currency`: the outcome's, where it is money in a known currency (stored spend or revenue).
pub fn advanced(
    out: &AdvancedResponse,
    info: &DataInfo,
    explanation: Option<(&Explanation, &Grounding)>,
    counterfactuals: &[Scenario],
    currency: Option<&str>,
) -> String {
    let mut body = String::new();
    if let Some(q) = &out.question {
        let _ = write!(body, "<p><b>Question:</b> {}</p>", esc(q));
    }
    // the plain-language answer first, then the numbers it comes from
    if let Some((e, g)) = explanation {
        body.push_str(&explanation_section(e, g));
    }
    let c = &out.comparison;
    let _ = write!(
        body,
        "<h2>Answer</h2><p class=\"headline\">{}</p><table><tr><th>method</th><th>estimate</th><th>interval</th></tr>",
        esc(&c.summary)
    );
    for (m, e, lo, hi) in &c.estimates {
        let ci = match (lo, hi) {
            (Some(l), Some(h)) => format!("[{}, {}]", amount(*l, currency), amount(*h, currency)),
            _ => "–".into(),
        };
        let _ = write!(body, "<tr><td>{}</td><td>{}</td><td>{ci}</td></tr>", esc(m), amount(*e, currency));
    }
    if c.estimates.len() > 1 {
        let _ = write!(
            body,
            "</table><p>signs agree: {}; intervals overlap: {}; spread {}; checks passed {}, failed {}.</p>",
            c.signs_agree,
            c.intervals_overlap,
            amount(c.spread, currency),
            c.checks_passed,
            c.checks_failed
        );
    } else {
        // one method: nothing to agree with
        let _ = write!(body, "</table><p>checks passed {}, failed {}.</p>", c.checks_passed, c.checks_failed);
    }
    body.push_str(&data_section(info));
    for r in &out.results {
        let _ = write!(body, "<h2>{}</h2>", esc(&method_title(&r.method)));
        body.push_str(&headline(r.result.inference(), currency));
        body.push_str(&weak_first_stage_note(&r.result, currency));
        body.push_str("<table><tr><th>check</th><th>value</th><th>rule</th><th>result</th></tr>");
        for ch in &r.checks {
            let (cls, word) = match ch.passed {
                Some(true) => ("pass", "passed"),
                Some(false) => ("fail", "failed"),
                None => ("na", "not run"),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{cls}\">{word}</td></tr>",
                esc(&ch.name),
                ch.value.map_or("–".into(), |v| check_value(&r.method, &ch.name, v)),
                esc(&ch.rule)
            );
        }
        body.push_str("</table><p><b>Assumptions:</b></p><ul>");
        for a in &r.assumptions {
            let _ = write!(body, "<li>{}</li>", esc(a));
        }
        body.push_str("</ul>");
        // The stored records' time is the day number, a time column of dates is numbered as
        // periods: either way their plots show dates.
        let times = match &info.time_axis {
            Some(a) => Times::Periods(a),
            None if info.source == "records" => Times::Days,
            None => Times::Numbers,
        };
        for svg in method_plots(&r.result, times) {
            body.push_str(&svg);
        }
    }
    if !counterfactuals.is_empty() {
        body.push_str(&counterfactual_section(counterfactuals, currency));
    }
    page(out.question.as_deref().unwrap_or("Causal analysis"), &body)
}

/// The executive explanation, each sentence as written (every number from the fact sheet), and
/// the validator's verdict.
fn explanation_section(e: &Explanation, g: &Grounding) -> String {
    let mut s = String::from("<h2>In words</h2>");
    for sentence in &e.sentences {
        let _ = write!(s, "<p>{}</p>", esc(&sentence.text));
    }
    let _ = write!(
        s,
        "<p class=\"note\">Every number above comes from the results (grounding check {}: {} of {} numbers matched, {} claims checked).</p>",
        if g.passed { "passed" } else { "failed" },
        g.numbers_matched,
        g.numbers_checked,
        g.claims_checked
    );
    if !e.caveats.is_empty() {
        s.push_str("<p><b>Caveats:</b></p><ul>");
        for c in &e.caveats {
            let _ = write!(s, "<li>{}</li>", esc(c));
        }
        s.push_str("</ul>");
    }
    s
}

/// CausalImpact's table for each counterfactual: average and cumulative actual, counterfactual,
/// effect with its interval, and relative effect; the interval method and the identities checked.
fn counterfactual_section(scenarios: &[Scenario], currency: Option<&str>) -> String {
    let mut s = String::from("<h2>Counterfactual: what would have happened without it</h2>");
    let amt = |x: f64| amount(x, currency);
    let opt = |v: Option<f64>| v.map_or("–".to_string(), amt);
    for sc in scenarios {
        let sm = &sc.summary;
        let interval =
            |r: &SummaryRow| r.effect_interval.map_or("–".to_string(), |[l, h]| format!("[{}, {}]", amt(l), amt(h)));
        let relative = |r: &SummaryRow| r.relative.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let cum = sm.cumulative.as_ref();
        let c = |f: &dyn Fn(&SummaryRow) -> String| cum.map_or("–".to_string(), f);
        let _ = write!(
            s,
            "<h3>{}</h3><table><tr><th></th><th>average per post period</th><th>cumulative ({})</th></tr>\
             <tr><td>actual</td><td>{}</td><td>{}</td></tr>\
             <tr><td>counterfactual</td><td>{}</td><td>{}</td></tr>\
             <tr><td>effect</td><td>{}</td><td>{}</td></tr>\
             <tr><td>interval</td><td>{}</td><td>{}</td></tr>\
             <tr><td>relative effect</td><td>{}</td><td>{}</td></tr></table>",
            esc(&method_title(&sc.source)),
            esc(&sm.cumulative_over),
            opt(sm.average.actual),
            c(&|r| opt(r.actual)),
            opt(sm.average.counterfactual),
            c(&|r| opt(r.counterfactual)),
            amt(sm.average.effect),
            c(&|r| amt(r.effect)),
            interval(&sm.average),
            c(&interval),
            relative(&sm.average),
            c(&relative),
        );
        let _ = write!(
            s,
            "<p class=\"note\">Intervals: {}. Evidence grade {:?}.</p>",
            esc(sc.interval_method.trim_end_matches('.')),
            sc.evidence_grade
        );
        let worst = sc.reconciliation.iter().map(|r| r.abs_diff).fold(0.0f64, f64::max);
        match sc.reconciliation.as_slice() {
            [] => {}
            [one] => {
                let _ = write!(
                    s,
                    "<p class=\"note\">Identity checked: {}; difference {}.</p>",
                    esc(&one.identity),
                    fmt(worst)
                );
            }
            [first, ..] => {
                let _ = write!(
                    s,
                    "<p class=\"note\">{} identities checked (for example: {}); largest difference {}.</p>",
                    sc.reconciliation.len(),
                    esc(&first.identity),
                    fmt(worst)
                );
            }
        }
    }
    s
}

fn method_title(name: &str) -> String {
    match name {
        "did" => "Difference in differences".into(),
        "iv" => "Instrumental variables".into(),
        "rdd" => "Regression discontinuity".into(),
        "synth" => "Synthetic control".into(),
        "sdid" => "Synthetic difference-in-differences".into(),
        "impact" => "Time-series counterfactual".into(),
        other => other.to_string(),
    }
}

/// (relative time, effect, ci_low, ci_high) of a DiD's event study, when it has one.
fn event_points(d: &DidOutput) -> Vec<(i64, f64, f64, f64)> {
    match d {
        DidOutput::Twfe(r) => {
            r.event_study.iter().flatten().map(|p| (p.relative_time, p.att, p.ci_low, p.ci_high)).collect()
        }
        DidOutput::Staggered(r) => {
            r.event_study.iter().map(|p| (p.relative_time, p.att, p.ci_low, p.ci_high)).collect()
        }
    }
}

/// `dates`: the time values are calendar days (the stored records'), labelled as dates.
fn method_plots(result: &MethodOutput, dates: Times<'_>) -> Vec<String> {
    match result {
        MethodOutput::Did(d) => {
            let pts = event_points(d);
            if pts.is_empty() {
                vec!["<p class=\"note\">No event study was run (set event_study) so there is no plot of the leads and lags.</p>".into()]
            } else {
                let (pre_trend, uniform) = match d {
                    DidOutput::Twfe(r) => (r.pre_trend_p_value, vec![]),
                    DidOutput::Staggered(r) => (
                        r.pre_trend_p_value,
                        r.event_study
                            .iter()
                            .filter_map(|p| Some((p.relative_time, p.uniform_ci_low?, p.uniform_ci_high?)))
                            .collect(),
                    ),
                };
                let mut parts = vec![or_note(event_study_svg(&pts, &uniform, pre_trend))];
                if let DidOutput::Twfe(r) = d {
                    if let Some(h) = &r.honest {
                        parts.push(honest_table(h));
                    }
                }
                parts
            }
        }
        MethodOutput::Synth(r) => synth_plots(r, dates),
        MethodOutput::Rdd(r) => r
            .plot
            .as_ref()
            .map(|p| {
                let mut parts = vec![or_note(rdd_svg(p))];
                if !r.covariates.is_empty() {
                    parts.push("<p class=\"note\">The curves are the local fits of the outcome alone; the estimate also adjusts for the covariates, so its jump can differ from the gap drawn at the cutoff.</p>".into());
                }
                parts
            })
            .unwrap_or_default(),
        MethodOutput::Iv(_) => vec![],
        MethodOutput::Sdid(r) => sdid_plots(r, dates),
        MethodOutput::Impact(r) => impact_plots(r, dates),
    }
}

/// HonestDiD's sensitivity analysis: the robust interval for the reported estimate at each
/// allowed violation of parallel trends, under both restrictions, and where zero enters.
fn honest_table(h: &liftos_estimators::did::honest::HonestResult) -> String {
    let mut s = format!(
        "<h3>Sensitivity to violations of parallel trends (HonestDiD)</h3><p class=\"note\">For {}. \
         Relative magnitudes: after treatment the trend may change by up to M-bar times its largest change before. \
         Smoothness: the trend's slope may change by up to M per period (outcome units); M = 0 allows a linear trend.</p>\
         <table><tr><th>restriction</th><th>bound</th><th>interval</th></tr>",
        esc(&h.target)
    );
    for b in &h.relative_magnitudes {
        let interval = match (b.ci_low, b.ci_high) {
            (Some(l), Some(u)) => {
                format!("[{}, {}]{}", fmt(l), fmt(u), if b.open { " (reaches the search grid's end)" } else { "" })
            }
            _ => "empty".into(),
        };
        let _ = write!(s, "<tr><td>relative magnitudes</td><td>M-bar = {}</td><td>{interval}</td></tr>", fmt(b.mbar));
    }
    for b in &h.smoothness {
        let _ = write!(
            s,
            "<tr><td>smoothness</td><td>M = {}</td><td>[{}, {}]</td></tr>",
            fmt(b.m),
            fmt(b.ci_low),
            fmt(b.ci_high)
        );
    }
    s.push_str("</table>");
    let breakdown = |v: Option<f64>, name: &str, max: f64| match v {
        Some(0.0) => format!("zero is inside the interval already at {name} = 0"),
        Some(m) => format!("zero enters the interval at {name} = {}", fmt(m)),
        None => format!("zero stays outside up to {name} = {}", fmt(max)),
    };
    let _ = write!(
        s,
        "<p class=\"note\">Breakdown: {}; {}.</p>",
        breakdown(h.breakdown_mbar, "M-bar", h.breakdown_search_max),
        if h.smoothness.is_empty() {
            "smoothness not computed".to_string()
        } else {
            breakdown(h.breakdown_m, "M", h.breakdown_m_search_max)
        }
    );
    s
}

/// CausalImpact's three panels: observed against the counterfactual with its band, the pointwise
/// effect with its band, and the cumulative effect with its band (the diffuse start left out).
fn impact_plots(r: &liftos_estimators::impact::ImpactResult, dates: Times<'_>) -> Vec<String> {
    let t0 = r.treatment_time as f64;
    let shown: Vec<&liftos_estimators::impact::ImpactPoint> = r.series.iter().skip(r.loglikelihood_burn).collect();
    let pts = |f: &dyn Fn(&liftos_estimators::impact::ImpactPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        shown.iter().filter_map(|p| Some((p.time as f64, f(p)?))).filter(|p| p.1.is_finite()).collect()
    };
    let band = |lo: Vec<(f64, f64)>, hi: Vec<(f64, f64)>, label: &str| -> [Line; 2] {
        [
            Line { label: Some(label.into()), points: lo, color: CONTROL, width: 1, alpha: 0.5 },
            Line { label: None, points: hi, color: CONTROL, width: 1, alpha: 0.5 },
        ]
    };
    let [lo, hi] = band(pts(&|p| Some(p.predicted_low)), pts(&|p| Some(p.predicted_high)), "forecast band");
    let original = lines_chart(
        "Observed and counterfactual",
        ("time", dates),
        "outcome",
        &[
            Line {
                label: Some("observed".into()),
                points: pts(&|p| Some(p.observed)),
                color: TREATED,
                width: 2,
                alpha: 1.0,
            },
            Line {
                label: Some("counterfactual".into()),
                points: pts(&|p| Some(p.predicted)),
                color: CONTROL,
                width: 2,
                alpha: 1.0,
            },
            lo,
            hi,
        ],
        Some(t0),
        false,
    );
    let [lo, hi] =
        band(pts(&|p| Some(p.observed - p.predicted_high)), pts(&|p| Some(p.observed - p.predicted_low)), "interval");
    let pointwise = lines_chart(
        "Pointwise effect",
        ("time", dates),
        "effect",
        &[
            Line {
                label: Some("observed - counterfactual".into()),
                points: pts(&|p| Some(p.observed - p.predicted)),
                color: TREATED,
                width: 2,
                alpha: 1.0,
            },
            lo,
            hi,
        ],
        Some(t0),
        true,
    );
    let [lo, hi] = band(pts(&|p| p.cumulative_low), pts(&|p| p.cumulative_high), "interval");
    let cumulative = lines_chart(
        "Cumulative effect",
        ("time", dates),
        "effect",
        &[
            Line {
                label: Some("cumulative".into()),
                points: pts(&|p| p.cumulative_effect),
                color: TREATED,
                width: 2,
                alpha: 1.0,
            },
            lo,
            hi,
        ],
        Some(t0),
        true,
    );
    vec![or_note(original), or_note(pointwise), or_note(cumulative)]
}

/// The treated series against its counterfactual, the treatment time marked.
fn treated_and_counterfactual(
    title: &str,
    treated: Vec<(f64, f64)>,
    (label, counterfactual): (&str, Vec<(f64, f64)>),
    t0: f64,
    dates: Times<'_>,
) -> DrawResult {
    lines_chart(
        title,
        ("time", dates),
        "outcome",
        &[
            Line { label: Some("treated".into()), points: treated, color: TREATED, width: 2, alpha: 1.0 },
            Line { label: Some(label.into()), points: counterfactual, color: CONTROL, width: 2, alpha: 1.0 },
        ],
        Some(t0),
        false,
    )
}

/// The paper's figure: the treated average against the weighted controls shifted to it, and the
/// time weights as a strip under the pre-period.
fn sdid_plots(r: &liftos_estimators::sdid::SdidResult, dates: Times<'_>) -> Vec<String> {
    let t0 = r.treatment_time as f64;
    let pts = |f: fn(&liftos_estimators::sdid::SdidPath) -> f64| -> Vec<(f64, f64)> {
        r.path.iter().map(|p| (p.time as f64, f(p))).filter(|p| p.1.is_finite()).collect()
    };
    let paths = treated_and_counterfactual(
        "Treated average and synthetic DiD counterfactual",
        pts(|p| p.treated),
        ("weighted controls, shifted", pts(|p| p.synthetic)),
        t0,
        dates,
    );
    let weights = lines_chart(
        "Time weights (lambda) over the pre-period",
        ("time", dates),
        "weight",
        &[Line {
            label: Some("lambda".into()),
            points: r.time_weights.iter().map(|w| (w.time as f64, w.weight)).collect(),
            color: CONTROL,
            width: 2,
            alpha: 1.0,
        }],
        Some(t0),
        false,
    );
    vec![or_note(paths), or_note(weights)]
}

fn synth_plots(r: &SynthResult, dates: Times<'_>) -> Vec<String> {
    let t0 = r.treatment_time as f64;
    let series = |f: fn(&liftos_estimators::synth::Gap) -> f64| -> Vec<(f64, f64)> {
        r.gaps.iter().map(|g| (g.time as f64, f(g))).filter(|p| p.1.is_finite()).collect()
    };
    let paths = treated_and_counterfactual(
        "Treated and synthetic",
        series(|g| g.treated),
        ("synthetic", series(|g| g.synthetic)),
        t0,
        dates,
    );
    let times: Vec<f64> = r.gaps.iter().map(|g| g.time as f64).collect();
    let mut lines: Vec<Line> = r
        .placebos
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| Line {
            label: (i == 0).then(|| "placebo units".to_string()),
            points: times.iter().zip(&p.gaps).map(|(t, x)| (*t, *x)).filter(|p| p.1.is_finite()).collect(),
            color: GREY,
            width: 1,
            alpha: 0.6,
        })
        .collect();
    lines.push(Line {
        label: Some("treated gap".into()),
        points: series(|g| g.gap),
        color: TREATED,
        width: 3,
        alpha: 1.0,
    });
    let title = match r.placebo_p_value {
        Some(p) => format!("Gap, with placebo gaps (placebo p = {})", fmt(p)),
        None => "Gap (treated minus synthetic)".into(),
    };
    vec![or_note(paths), or_note(lines_chart(&title, ("time", dates), "gap", &lines, Some(t0), true))]
}

/// The report of a discovery run: the graph and its edge list.
pub fn discovery(out: &DiscoveryOutput, info: &DataInfo, explanation: Option<(&Explanation, &Grounding)>) -> String {
    let vars = out.graph().variables();
    let edges: Vec<(String, String, bool)> =
        out.graph().edges().into_iter().map(|e| (e.from, e.to, e.directed)).collect();
    let mut body = explanation.map_or(String::new(), |(e, g)| explanation_section(e, g));
    let _ = write!(
        body,
        "<p class=\"headline\">{} on {} variables and {} rows: {} edges.</p>",
        esc(out.estimator()),
        vars.len(),
        info.rows,
        edges.len()
    );
    body.push_str(&or_note(graph_svg(&vars, &edges)));
    body.push_str("<table><tr><th>from</th><th>to</th><th>kind</th></tr>");
    for (a, b, d) in &edges {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(a),
            esc(b),
            if *d { "directed" } else { "undirected (orientation not identified)" }
        );
    }
    body.push_str("</table>");
    body.push_str(&data_section(info));
    page("Causal discovery", &body)
}

/// The report of a treatment-effect run: the estimate, the overlap of the estimator's propensity
/// scores and the E-value.
/// `currency`: the outcome's, where it is money in a known currency (stored spend or revenue).
pub fn effect(
    out: &EffectOutput,
    info: &DataInfo,
    explanation: Option<(&Explanation, &Grounding)>,
    currency: Option<&str>,
) -> String {
    let r = &out.result;
    let mut body = explanation.map_or(String::new(), |(e, g)| explanation_section(e, g));
    let estimand = format!("{:?}", r.estimand).to_uppercase();
    let _ = write!(body, "<h2>{} ({estimand})</h2>", esc(&r.estimator));
    body.push_str(&headline(&r.inference, currency));
    let _ = write!(
        body,
        "<p>E-value {} (for the interval {}): an unmeasured confounder would need associations this strong with both treatment and outcome to explain the effect away.</p>",
        fmt(r.e_value.estimate),
        fmt(r.e_value.ci)
    );
    match &r.scores {
        Some((p, treated)) => body.push_str(&or_note(overlap_svg(p, treated))),
        None => body
            .push_str("<p class=\"note\">No propensity scores came with this result, so there is no overlap plot.</p>"),
    }
    for x in &r.warnings {
        let _ = write!(body, "<p class=\"fail\">{}</p>", esc(x));
    }
    body.push_str(&data_section(info));
    page("Treatment effect", &body)
}

/// A return on spend as a marketer reads it: two decimals (3.15), two significant digits below
/// 0.01 (0.0042), thousands grouped.
fn ratio(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x != 0.0 && x.abs() < 0.01 {
        return format!("{x:.1e}").parse::<f64>().map_or_else(|_| fmt(x), |r| r.to_string());
    }
    let text = format!("{:.2}", x.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((text.as_str(), "00"));
    let grouped: String = whole
        .chars()
        .enumerate()
        .flat_map(|(i, ch)| ((i > 0 && (whole.len() - i) % 3 == 0).then_some(',')).into_iter().chain([ch]))
        .collect();
    format!(
        "{}{grouped}.{cents}",
        if x < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') { "-" } else { "" }
    )
}

/// Money with its currency (ISO code first) and thousands separators: whole units from 100 up,
/// cents below.
/// An axis's tick as a reader writes it: whole numbers with thousands separators (`4,000`, `-30`,
/// not `4000.0`, `-30.0`), others with the decimals they need (`0.25`).
fn tick(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    if x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
        return format!("{x:.2e}");
    }
    if (x - x.round()).abs() <= 1e-9 * x.abs().max(1.0) {
        return money(x.round(), None).trim_end_matches(".00").to_string();
    }
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn money(x: f64, currency: Option<&str>) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let digits = if x.abs() >= 100.0 { 0 } else { 2 };
    let text = format!("{:.*}", digits, x.abs());
    let (whole, cents) = text.split_once('.').map_or((text.as_str(), None), |(w, c)| (w, Some(c)));
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if let Some(c) = cents {
        let _ = write!(grouped, ".{c}");
    }
    let sign = if x < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') { "-" } else { "" };
    // the sign on the number, as the explanation writes amounts (USD -24.36)
    match currency {
        Some(c) => format!("{c} {sign}{grouped}"),
        None => format!("{sign}{grouped}"),
    }
}

/// How the media mix model's periods read in its report: days, weeks, months, or periods of n
/// days (the step of its dates).
struct Per {
    /// "a day", "a week", "per 14 days"
    a: String,
    one: String,
    many: String,
    /// "day-to-day"
    change: String,
}

impl Per {
    fn of(m: &liftos_estimators::mmm::MmmResult) -> Per {
        let step = m.decomposition.days.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1);
        let (a, one, many, change) = match step {
            1 => ("a day".into(), "day".into(), "days".into(), "day-to-day"),
            7 => ("a week".into(), "week".into(), "weeks".into(), "week-to-week"),
            28..=31 => ("a month".into(), "month".into(), "months".into(), "month-to-month"),
            n => (
                format!("per {n} days"),
                format!("period of {n} days"),
                format!("periods of {n} days"),
                "period-to-period",
            ),
        };
        Per { a, one, many, change: change.into() }
    }

    /// "1 week", "104 weeks".
    fn count(&self, n: usize) -> String {
        format!("{n} {}", if n == 1 { &self.one } else { &self.many })
    }
}

/// The budget plan of the media mix model: what it moves and what it expects in words (each
/// number from the plan), then per channel today's spend and the plan's with the returns'
/// intervals, a plot of both, the fit and the warnings. Money is in `currency` when known.
pub fn budget_plan(kpi: &str, currency: Option<&str>, m: &liftos_estimators::mmm::MmmResult) -> String {
    let cur = currency;
    let per = Per::of(m);
    let a = &per.a;
    let pct = |l: f64| format!("{}%", (100.0 * l).round());
    let level = pct(m.level);
    let mut words: Vec<String> = Vec::new();
    if !m.incremental {
        words.push(format!(
            "The KPI ({kpi}) is the platforms' attribution: the returns below are not incremental effects of the spend."
        ));
    }
    let moved: Vec<&liftos_estimators::mmm::MmmChannel> =
        m.channels.iter().filter(|c| (c.spend_to - c.spend_from).abs() >= 0.005 * c.spend_from.max(1.0)).collect();
    if moved.is_empty() {
        words.push(format!(
            "The plan keeps every channel at today's spend, {} {a} in all.",
            money(m.channels.iter().map(|c| c.spend_from).sum(), cur)
        ));
    } else {
        let changes: Vec<String> = moved
            .iter()
            .map(|c| format!("{} from {} to {} {a}", c.channel, money(c.spend_from, cur), money(c.spend_to, cur)))
            .collect();
        words.push(format!("The plan for a budget of {} {a} moves {}.", money(m.budget, cur), changes.join("; ")));
    }
    let gain = format!("{} {kpi} {a}", fmt(m.expected_gain));
    let interval = format!("{level} interval {} to {}", fmt(m.gain_ci_low), fmt(m.gain_ci_high));
    // A plan that moves nothing has no gain to state.
    let still = moved.is_empty() && m.expected_gain == 0.0;
    words.extend((!still).then(|| {
        if m.gain_ci_low > 0.0 {
            format!("The model expects it to add {gain} against today's allocation ({interval}).")
        } else if m.gain_ci_high < 0.0 {
            format!(
                "The model expects it to change {kpi} by {} {a} against today's allocation, a loss ({interval}).",
                fmt(m.expected_gain)
            )
        } else {
            format!(
                "Its expected gain, {gain} against today's allocation, is not distinguishable from none ({interval})."
            )
        }
    }));
    for (bound, why) in [
        (
            "held",
            "held at today's spend: its return on spend is not clear of zero in the model's re-fits, or its test of no effect does not rule out none.",
        ),
        (
            "no_evidence",
            "cut to the floor: without evidence of a return, even the optimistic marginal return is below what the plan pays at the margin.",
        ),
    ] {
        let names: Vec<&str> =
            m.channels.iter().filter(|c| c.bound.as_deref() == Some(bound)).map(|c| c.channel.as_str()).collect();
        if !names.is_empty() {
            words.push(format!("{} {} {why}", names.join(", "), if names.len() == 1 { "is" } else { "are" }));
        }
    }
    if m.fit.r_squared.is_finite() {
        words.push(format!(
            "The model explains {} of the {} variation of {kpi} over the {} it was fitted on; a model fit is not an experiment, so test before large moves.",
            pct(m.fit.r_squared),
            per.change,
            per.count(m.fit.observed)
        ));
    }
    let mut body = String::from("<h2>In words</h2>");
    for w in &words {
        let _ = write!(body, "<p>{}</p>", esc(w));
    }
    if !m.warnings.is_empty() {
        body.push_str("<p><b>Caveats:</b></p><ul>");
        for w in &m.warnings {
            let _ = write!(body, "<li>{}</li>", esc(w));
        }
        body.push_str("</ul>");
    }
    let unit = cur.map_or(String::new(), |c| format!(" ({c})"));
    let _ = write!(
        body,
        "<h2>Channels</h2><table><tr><th>channel</th><th>spend {a} today{unit}</th><th>planned{unit}</th><th>change</th>\
<th>ROI [{level}]</th><th>marginal ROI [{level}]</th><th>evidence</th><th>held by</th></tr>"
    );
    for c in &m.channels {
        let change = if c.spend_from > 0.0 {
            format!("{:+.1}%", 100.0 * (c.spend_to / c.spend_from - 1.0))
        } else {
            "–".into()
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{change}</td><td>{} [{}, {}]</td><td>{} [{}, {}]</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&c.channel),
            money(c.spend_from, cur),
            money(c.spend_to, cur),
            ratio(c.roi),
            ratio(c.roi_ci_low),
            ratio(c.roi_ci_high),
            ratio(c.marginal_roi),
            ratio(c.marginal_roi_ci_low),
            ratio(c.marginal_roi_ci_high),
            if c.evidence { "pass" } else { "na" },
            match c.no_effect_p_value {
                Some(q) => format!("{} (no effect: p = {})", if c.evidence { "yes" } else { "no" }, fmt(q)),
                None => (if c.evidence { "yes" } else { "no" }).to_string(),
            },
            esc(c.bound.as_deref().unwrap_or("–"))
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<p class=\"note\">ROI: {kpi} per unit of spend over the history; marginal ROI: per extra unit of spend {a} at today's spend. Intervals from {} block-bootstrap re-fits. Evidence: the return is positive in 99% of the re-fits and the test of no effect (calibrated on histories simulated without the channel) rejects at 5%.</p>",
        m.draws
    );
    body.push_str(&or_note(spend_svg(&m.channels, cur, a)));
    let _ = write!(
        body,
        "<h2>Response curves</h2><p class=\"note\">What each channel adds to {kpi} {a} once its spend has been held for a while (carry-over caught up), with its {level} interval from the re-fits. The plan stays within the spend the history supports; beyond it the curves are extrapolated.</p>"
    );
    body.push_str(&or_note(response_svg(&m.channels, kpi, cur, a)));
    if !m.decomposition.days.is_empty() {
        body.push_str("<h2>The KPI over time</h2>");
        let names: Vec<String> = m.channels.iter().map(|c| c.channel.clone()).collect();
        body.push_str(&or_note(decomposition_svg(&m.decomposition, &names, kpi)));
        let _ = write!(
            body,
            "<p class=\"note\">The model's split of {kpi}: what the controls explain (baseline) and what it attributes to each channel. A model's attribution, not an experiment's.</p>"
        );
    }
    let h = &m.horizon;
    // a plan that moves nothing gains exactly nothing: 0, not 0.0000
    let gain = |x: f64| if x == 0.0 { "0".to_string() } else { fmt(x) };
    let _ = write!(
        body,
        "<h2>Over {}</h2><p>spend {}; expected gain {} {kpi} ({level} interval {} to {})</p>",
        per.count(h.periods),
        money(h.spend, cur),
        gain(h.gain),
        gain(h.gain_ci_low),
        gain(h.gain_ci_high)
    );
    let f = &m.fit;
    let _ = write!(
        body,
        "<h2>Fit</h2><table><tr><th>R²</th><td>{}</td></tr><tr><th>RMSE</th><td>{}</td></tr>\
<tr><th>cross-validated RMSE ({} folds of {})</th><td>{}</td></tr><tr><th>{} fitted</th><td>{} of {}</td></tr>\
<tr><th>controls</th><td>{}</td></tr><tr><th>carry-over at the start</th><td>{}</td></tr></table>",
        fmt(f.r_squared),
        fmt(f.rmse),
        f.cv_folds,
        per.count(f.cv_horizon),
        f.cv_rmse.map_or("–".into(), fmt),
        per.many,
        f.observed,
        f.periods,
        esc(&m.controls.join(", ")),
        match f.history_start {
            liftos_estimators::mmm::HistoryStart::Launch => "none: the channels launched with the history",
            _ => "the channels were running before the history",
        }
    );
    page(&format!("Budget plan: {kpi}"), &body)
}

/// Colours of the channels in the media mix plots, in turn.
const PALETTE: [RGBColor; 8] = [
    RGBColor(40, 90, 170),
    RGBColor(200, 55, 45),
    RGBColor(40, 140, 80),
    RGBColor(150, 90, 180),
    RGBColor(220, 140, 30),
    RGBColor(30, 150, 160),
    RGBColor(140, 100, 60),
    RGBColor(200, 90, 150),
];

/// Each channel's response curve (KPI a period in steady state against spend a period) with its
/// interval as a band, today's spend as a dot and the plan's as a diamond.
fn response_svg(
    channels: &[liftos_estimators::mmm::MmmChannel],
    kpi: &str,
    currency: Option<&str>,
    a: &str,
) -> DrawResult {
    let points = channels.iter().flat_map(|c| c.response_curve.iter());
    let (x1, y1) = points.fold((0.0_f64, 0.0_f64), |(x, y), p| (x.max(p.spend), y.max(p.ci_high).max(p.response)));
    if !(x1 > 0.0 && y1 > 0.0 && x1.is_finite() && y1.is_finite()) {
        return Err("no response curve to plot".into());
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let x_desc = currency.map_or(format!("spend {a}"), |c| format!("spend {a} ({c})"));
        let amount = |v: &f64| tick(*v);
        let mut chart = frame_xy(
            &root,
            "Response curves: what each channel adds (band: interval; dot: today; diamond: plan)",
            (0.0, x1),
            (0.0, y1 * 1.05),
            (&x_desc, Times::Numbers),
            &format!("{kpi} {a}"),
            (Some(&amount), Some(&amount)),
        )?;
        for (i, c) in channels.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let curve = &c.response_curve;
            let band: Vec<(f64, f64)> = curve
                .iter()
                .map(|p| (p.spend, p.ci_high))
                .chain(curve.iter().rev().map(|p| (p.spend, p.ci_low)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.12).filled()))).map_err(err)?;
            let style = ShapeStyle::from(color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(curve.iter().map(|p| (p.spend, p.response)), style))
                .map_err(err)?
                .label(c.channel.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            let at = |x: f64| if x > 0.0 { c.effect * x / (x + c.half_saturation) } else { 0.0 };
            chart
                .draw_series(std::iter::once(Circle::new((c.spend_from, at(c.spend_from)), 5, color.filled())))
                .map_err(err)?;
            let (tx, ty) = (c.spend_to, at(c.spend_to));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((tx, ty))
                        + Polygon::new(vec![(0, -7), (7, 0), (0, 7), (-7, 0)], ShapeStyle::from(color).stroke_width(2)),
                ))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The KPI over time by source: the controls' baseline and each channel's contribution stacked
/// (the model's fit), and the KPI observed as a black line.
fn decomposition_svg(d: &liftos_estimators::mmm::Decomposition, names: &[String], kpi: &str) -> DrawResult {
    let n = d.days.len();
    if n < 2 || d.baseline.len() != n || d.channels.len() != names.len() || d.channels.iter().any(|c| c.len() != n) {
        return Err("no decomposition to plot".into());
    }
    let x: Vec<f64> = d.days.iter().map(|&v| v as f64).collect();
    // Layers: the baseline from zero, then each channel on the running total.
    let mut lower = vec![0.0; n];
    let mut layers: Vec<(String, RGBColor, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut upper = d.baseline.clone();
    layers.push(("baseline (trend, seasonality, controls)".into(), GREY, lower.clone(), upper.clone()));
    for (i, c) in d.channels.iter().enumerate() {
        lower = upper.clone();
        upper = lower.iter().zip(c).map(|(a, b)| a + b).collect();
        layers.push((names[i].clone(), PALETTE[i % PALETTE.len()], lower.clone(), upper.clone()));
    }
    let (y0, y1) =
        range(layers.iter().flat_map(|l| l.2.iter().chain(l.3.iter()).copied()).chain(d.kpi.iter().flatten().copied()));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let amount = |v: &f64| tick(*v);
        // Headroom for the legend above the series.
        let top = y1 + 0.45 * (y1 - y0.min(0.0));
        let mut chart = frame_xy(
            &root,
            format!("{kpi} over time: baseline and each channel's contribution (fit), observed (black)"),
            (x[0], x[n - 1]),
            (y0.min(0.0), top),
            ("date", Times::Days),
            kpi,
            (None, Some(&amount)),
        )?;
        for (name, color, lo, hi) in &layers {
            let poly: Vec<(f64, f64)> = x
                .iter()
                .copied()
                .zip(hi.iter().copied())
                .chain(x.iter().copied().zip(lo.iter().copied()).rev())
                .collect();
            let fill = color.mix(0.45).filled();
            chart
                .draw_series(std::iter::once(Polygon::new(poly, fill)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], fill));
        }
        // The KPI observed, broken where it is missing.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (t, k) in d.kpi.iter().enumerate() {
            match k {
                Some(v) => run.push((x[t], *v)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        runs.push(run);
        for r in runs.into_iter().filter(|r| !r.is_empty()) {
            chart.draw_series(LineSeries::new(r, ShapeStyle::from(BLACK).stroke_width(1))).map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Today's spend and the plan's, per channel, as paired bars.
fn spend_svg(channels: &[liftos_estimators::mmm::MmmChannel], currency: Option<&str>, a: &str) -> DrawResult {
    let top = channels.iter().flat_map(|c| [c.spend_from, c.spend_to]).filter(|x| x.is_finite()).fold(0.0, f64::max);
    if channels.is_empty() || top <= 0.0 {
        return Err("no spend to plot".into());
    }
    let n = channels.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let y_desc = currency.map_or(format!("spend {a}"), |c| format!("spend {a} ({c})"));
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Spend {a}: today (grey) and planned (blue)"), ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..n as f64, 0.0..top * 1.15)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(0)
            .disable_x_mesh()
            .y_desc(y_desc)
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        // each channel's name above its pair of bars
        let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(
                channels
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Text::new(c.channel.clone(), (i as f64 + 0.5, top * 1.08), style.clone())),
            )
            .map_err(err)?;
        chart
            .draw_series(channels.iter().enumerate().map(|(i, c)| {
                Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.5, c.spend_from)], GREY.mix(0.8).filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(channels.iter().enumerate().map(|(i, c)| {
                Rectangle::new([(i as f64 + 0.5, 0.0), (i as f64 + 0.85, c.spend_to)], CONTROL.mix(0.8).filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn returns_read_to_two_decimals() {
        assert_eq!(
            [3.150_467, 0.0, 21.783_4, -0.5, 1234.567, 0.004_23, -0.000_5].map(super::ratio),
            ["3.15", "0.00", "21.78", "-0.50", "1,234.57", "0.0042", "-0.0005"]
        );
        assert_eq!(super::ratio(f64::NAN), "–");
    }

    #[test]
    fn axis_ticks_read_as_numbers_are_written() {
        let ticks = [4000.0, -30.0, 0.0, 20.0, 0.25, -0.5, 1_234_567.0, 12.5, 1e-6, 3e15, 0.1 + 0.2, 99.0];
        assert_eq!(
            ticks.map(super::tick),
            ["4,000", "-30", "0", "20", "0.25", "-0.5", "1,234,567", "12.5", "1.00e-6", "3.00e15", "0.3", "99"]
        );
        assert_eq!(super::tick(f64::NAN), "");
    }

    #[test]
    fn money_shows_its_currency_and_thousands() {
        assert_eq!(money(1866.4154, Some("USD")), "USD 1,866");
        assert_eq!(money(1234567.0, None), "1,234,567");
        assert_eq!(money(-40658.9, Some("EUR")), "EUR -40,659");
        assert_eq!(money(12.345, Some("GBP")), "GBP 12.35");
        assert_eq!(money(-0.001, None), "0.00");
        assert_eq!(money(100.0, None), "100");
        assert_eq!(money(f64::NAN, Some("USD")), "–");
    }

    /// The weak-instrument note draws every shape of the Anderson-Rubin set as what it is: a
    /// union of intervals (the robust test's set with gaps) was drawn as "empty".
    #[test]
    fn the_weak_instrument_note_draws_each_shape_of_the_set() {
        use crate::api::estimate::MethodOutput;
        use liftos_estimators::iv::weak::ArSet;
        use liftos_estimators::iv::{self, IvInput, IvSettings};
        use liftos_estimators::Columns;
        use ndarray::Array1;
        let mut rng = liftos_estimators::rng::Rng::new(11);
        let n = 200;
        let z: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let u: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let x: Vec<f64> = (0..n).map(|i| 0.05 * z[i] + u[i] + rng.normal()).collect();
        let y: Array1<f64> = (0..n).map(|i| x[i] + u[i] + rng.normal()).collect();
        let input = IvInput {
            outcome: ("y".into(), y),
            endogenous: Columns::new(vec![("x".into(), x)]).expect("x"),
            instruments: Columns::new(vec![("z".into(), z)]).expect("z"),
            controls: Columns::new(vec![]).expect("none"),
            cluster: None,
        };
        let mut fit = iv::fit(&input, &IvSettings::default()).expect("fit");
        assert!(fit.first_stage_f < 10.0, "a weak instrument: F = {}", fit.first_stage_f);
        let cases = [
            (ArSet::Bounded, Some(-1.5), Some(2.5), "[-1.5000, 2.5000]"),
            (ArSet::BoundedWithGaps, Some(-1.5), Some(2.5), "within [-1.5000, 2.5000], with gaps inside"),
            (ArSet::TwoRays, Some(-1.5), Some(2.5), "(−∞, -1.5000] ∪ [2.5000, ∞)"),
            (ArSet::UnboundedBelow, None, Some(2.5), "(−∞, 2.5000]"),
            (ArSet::UnboundedAbove, Some(-1.5), None, "[-1.5000, ∞)"),
            (ArSet::WholeLine, None, None, "the whole line"),
            (ArSet::Empty, None, None, "empty: no value"),
        ];
        for (set, lo, hi, drawn) in cases {
            let ar = fit.anderson_rubin.as_mut().expect("one endogenous regressor");
            (ar.ar_confidence_set, ar.ar_ci_low, ar.ar_ci_high) = (set, lo, hi);
            let note = super::weak_first_stage_note(&MethodOutput::Iv(fit.clone()), None);
            assert!(note.contains(drawn), "{set}: {note}");
            assert_eq!(note.contains("empty"), set == ArSet::Empty, "{set}: {note}");
        }
    }

    /// A plan on a KPI the spend does not move holds every channel and gains exactly nothing:
    /// the plan says 0, not 0.0000.
    #[test]
    fn a_plan_that_moves_nothing_says_its_gain_is_0() {
        use liftos_estimators::mmm::{self, MmmInput, MmmSettings, Series};
        let mut rng = liftos_estimators::rng::Rng::new(3);
        let n = 84;
        let spend = |rng: &mut liftos_estimators::rng::Rng, level: f64| -> Vec<f64> {
            (0..n).map(|_| level * (0.5 + rng.uniform())).collect()
        };
        let channels = vec![
            Series { name: "meta".into(), values: spend(&mut rng, 900.0) },
            Series { name: "tiktok".into(), values: spend(&mut rng, 300.0) },
        ];
        let kpi: Vec<f64> = (0..n).map(|_| 10_000.0 + 400.0 * rng.normal()).collect();
        let input =
            MmmInput { days: (20_000..20_000 + n as i64).collect(), kpi, channels, controls: vec![], lifts: vec![] };
        let m = mmm::fit(&input, &MmmSettings { draws: 50, folds: 0, ..MmmSettings::default() }).expect("fit");
        assert_eq!((m.horizon.gain, m.horizon.gain_ci_low, m.horizon.gain_ci_high), (0.0, 0.0, 0.0));
        let html = super::budget_plan("orders", Some("USD"), &m);
        assert!(
            html.contains("expected gain 0 orders (90% interval 0 to 0)"),
            "{}",
            &html[html.find("<h2>Over").unwrap_or(0)..][..200]
        );
    }

    /// The overlap plot's control half is drawn downwards and labelled with positive shares.
    #[test]
    fn overlap_labels_both_halves_as_shares() {
        let p: Vec<f64> = (0..200).map(|i| (f64::from(i) + 0.5) / 200.0).collect();
        let treated: Vec<bool> = (0..200).map(|i| i % 3 == 0).collect();
        let svg = super::overlap_svg(&p, &treated).expect("svg");
        let labels: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit('>').next()).collect();
        let shares: Vec<f64> = labels.iter().filter_map(|l| l.trim().parse::<f64>().ok()).collect();
        assert!(shares.len() >= 4, "{labels:?}");
        assert!(shares.iter().all(|v| *v >= 0.0), "{labels:?}");
        assert!(labels.iter().any(|l| l.contains("control below")), "{labels:?}");
    }
}
