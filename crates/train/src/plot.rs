//! Line charts as PNG bytes, with readable text on any machine.
//!
//! This module owns the figure layout (a title band, then one panel per
//! metric group side by side, each with its own title, legend, axes, grid,
//! ticks, tick labels and axis labels), the series colours, the handling of
//! awkward data (empty series, single points, non-finite values, flat or
//! degenerate ranges, very long series) and the PNG encoding. It renders into
//! an in-memory RGB buffer and returns the encoded bytes; writing them
//! (atomically) is the caller's job.
//!
//! Lines, grid and axes are drawn with plotters. Text is typeset here with
//! `ab_glyph` from a Latin subset of DejaVu Sans embedded in the binary
//! (`assets/DejaVuSans-Latin.ttf`, licence in `assets/FONT-LICENSE.txt`), so
//! no system font is needed. (plotters' own `ab_glyph` text backend is not
//! used: in plotters 0.3.7 it drops each glyph's side bearing, which leaves
//! visible gaps after narrow letters such as "l" and "i".)

use std::ops::Range;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// The embedded font: DejaVu Sans 2.37, subset to Latin, Greek and common
/// symbols (digits, punctuation, ± × – — · … ≤ ≥ ≈ − and the like), hinting
/// removed.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Latin.ttf");

/// The most panels one figure may hold.
pub const MAX_PANELS: usize = 8;

const PANEL_WIDTH: u32 = 600;
const HEIGHT: u32 = 450;
const TITLE_BAND: u32 = 42;
const PANEL_TITLE_BAND: u32 = 28;
const SIDE_PAD: u32 = 16;

const TITLE_SIZE: f32 = 22.0;
const PANEL_TITLE_SIZE: f32 = 18.0;
const DESC_SIZE: f32 = 15.0;
const TICK_SIZE: f32 = 13.0;
const LEGEND_SIZE: f32 = 14.0;

const LEGEND_ROW: u32 = 20;
const LEGEND_MAX_ROWS: usize = 3;
const LEGEND_SAMPLE: i32 = 26;
const LEGEND_SAMPLE_GAP: i32 = 6;
const LEGEND_ITEM_GAP: i32 = 22;

const Y_TICKS: usize = 6;
const X_TICKS: usize = 8;
/// Length of the tick marks outside the plotting area.
const TICK_MARK: i32 = 5;
/// Distance from the axis to its tick labels.
const TICK_LABEL_GAP: i32 = 9;
const LINE_WIDTH: u32 = 2;
const MARKER_RADIUS: i32 = 3;

/// Values whose magnitude exceeds this are skipped like non-finite ones, so
/// that range arithmetic cannot overflow to infinity.
const MAX_MAGNITUDE: f64 = 1e300;

/// The Okabe–Ito colour-blind-safe palette (without its yellow, which is
/// unreadable on white) plus a dark grey. Series beyond its length reuse the
/// colours with dashed, then dotted, lines.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(80, 80, 80),
];
const TEXT: RGBColor = RGBColor(20, 20, 20);
const AXIS: RGBColor = RGBColor(60, 60, 60);
const GRID: RGBColor = RGBColor(225, 225, 225);

/// One named line in a panel.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// The name shown in the panel's legend.
    pub name: &'a str,
    /// `(x, y)` points in drawing order. Points with a non-finite coordinate
    /// are skipped and break the line; a point with no drawable neighbour is
    /// drawn as a dot.
    pub points: &'a [(f64, f64)],
}

/// One chart of the figure: a title, a y axis label and its series.
#[derive(Debug, Clone)]
pub struct Panel<'a> {
    /// Shown above the panel.
    pub title: &'a str,
    /// Shown along the panel's y axis.
    pub y_label: &'a str,
    /// The lines, each in its own colour (and dash pattern once the palette
    /// is used up), named in the legend in this order.
    pub series: Vec<Series<'a>>,
    /// A fixed `(low, high)` y range, or `None` to fit the data. Parts of
    /// lines outside a fixed range are clipped at its edges.
    pub y_range: Option<(f64, f64)>,
}

/// Why a figure could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `render_png` was given no panels.
    #[error("no panels to plot")]
    NoPanels,
    /// More panels than [`MAX_PANELS`] were given.
    #[error("too many panels to plot: {count} (at most {max})")]
    TooManyPanels {
        /// How many panels were given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A panel's fixed y range is not finite or not increasing.
    #[error("panel {panel} ({title:?}) has an invalid y range {low}..{high}: the bounds must be finite with low < high")]
    InvalidYRange {
        /// The panel's index.
        panel: usize,
        /// The panel's title.
        title: String,
        /// The given lower bound.
        low: f64,
        /// The given upper bound.
        high: f64,
    },
    /// The embedded font could not be parsed.
    #[error("the embedded plot font could not be parsed: {0}")]
    Font(ab_glyph::InvalidFont),
    /// Plotters failed to draw part of the figure.
    #[error("drawing {what} failed: {message}")]
    Draw {
        /// The part of the figure being drawn.
        what: String,
        /// Plotters' error message.
        message: String,
    },
    /// The rendered image could not be encoded as PNG.
    #[error("encoding the plot as PNG failed: {0}")]
    Encode(#[source] png::EncodingError),
}

/// Renders a figure as PNG bytes: `title` on top, then one panel per entry
/// of `panels` side by side (600 × 450 pixels each), each with its title, a
/// legend naming its series, axes with ticks and tick labels, its y label,
/// and `x_label` under its x axis. All panels share one x range, the span of
/// every finite x value in the figure.
pub fn render_png(title: &str, x_label: &str, panels: &[Panel<'_>]) -> Result<Vec<u8>, PlotError> {
    let canvas = render_rgb(title, x_label, panels)?;
    encode_png(canvas.width, canvas.height, &canvas.rgb)
}

/// A rendered figure as 8-bit RGB pixels, row by row.
struct Canvas {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    /// Each panel's plotting area as absolute pixel ranges `(x, y)`.
    #[cfg_attr(not(test), allow(dead_code))]
    plot_areas: Vec<(Range<i32>, Range<i32>)>,
    /// Every piece of text drawn.
    #[cfg_attr(not(test), allow(dead_code))]
    labels: Vec<Label>,
}

fn render_rgb(title: &str, x_label: &str, panels: &[Panel<'_>]) -> Result<Canvas, PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoPanels);
    }
    if panels.len() > MAX_PANELS {
        return Err(PlotError::TooManyPanels { count: panels.len(), max: MAX_PANELS });
    }
    let y_ranges = panels
        .iter()
        .enumerate()
        .map(|(i, p)| match p.y_range {
            Some((low, high)) if low.is_finite() && high.is_finite() && low < high => Ok((low, high)),
            Some((low, high)) => Err(PlotError::InvalidYRange { panel: i, title: p.title.to_string(), low, high }),
            None => Ok(fit_y_range(p)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let face = Face::get()?;

    let width = PANEL_WIDTH * panels.len() as u32;
    let height = HEIGHT;
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    let (x_range, x_integral) = shared_x_range(panels);
    let mut plot_areas = Vec::with_capacity(panels.len());
    // Legends take the same band in every panel, so that the plots line up.
    let legends: Vec<_> = panels.iter().map(|p| legend_rows(face, &p.series, (PANEL_WIDTH - 2 * SIDE_PAD) as i32)).collect();
    let legend_band = legends.iter().map(Vec::len).max().unwrap_or(0) as u32 * LEGEND_ROW + 4;
    let mut texts = Vec::new();
    texts.push(Label::new(face.fit(title, TITLE_SIZE, (width - 2 * SIDE_PAD) as f32), TITLE_SIZE, width as f32 / 2.0, TITLE_BAND as f32 / 2.0));
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err("the background", e))?;
        let (_, body) = root.split_vertically(TITLE_BAND);
        let areas = body.split_evenly((1, panels.len()));
        for (i, ((area, panel), (y_range, legend))) in areas.iter().zip(panels).zip(y_ranges.into_iter().zip(&legends)).enumerate() {
            let what = |part: &str| format!("{part} of panel {i} ({:?})", panel.title);
            let layout = PanelLayout { face, x_label, x_range, x_integral, y_range, legend, legend_band };
            plot_areas.push(draw_panel(&root, area, panel, &layout, &mut texts, &what)?);
        }
        root.present().map_err(|e| draw_err("the figure", e))?;
    }
    for label in &texts {
        face.draw(label, &mut rgb, width, height);
    }
    Ok(Canvas { width, height, rgb, plot_areas, labels: texts })
}

fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(PlotError::Encode)?;
    writer.write_image_data(rgb).map_err(PlotError::Encode)?;
    writer.finish().map_err(PlotError::Encode)?;
    Ok(out)
}

fn draw_err(what: impl Into<String>, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw { what: what.into(), message: e.to_string() }
}

// ---------------------------------------------------------------------------
// Text

/// Where a label sits relative to its anchor, along or across the text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Start,
    Centre,
    End,
}

/// A line of text to draw once plotters is done with the buffer.
#[derive(Debug, Clone)]
struct Label {
    text: String,
    size: f32,
    colour: RGBColor,
    /// Anchor point in pixels.
    x: f32,
    y: f32,
    /// Where along the text the anchor sits.
    align: Align,
    /// Where across the text the anchor sits: at the top of the line box,
    /// the middle of the capitals, or the bottom of the line box.
    valign: Align,
    /// Rotated a quarter turn anticlockwise (reading upwards).
    upward: bool,
}

impl Label {
    /// Centred both ways on `(x, y)`, horizontal, in the text colour.
    fn new(text: String, size: f32, x: f32, y: f32) -> Self {
        Label { text, size, colour: TEXT, x, y, align: Align::Centre, valign: Align::Centre, upward: false }
    }

    fn aligned(mut self, align: Align, valign: Align) -> Self {
        self.align = align;
        self.valign = valign;
        self
    }
}

/// The embedded typeface.
#[derive(Clone, Copy)]
struct Face {
    font: &'static FontRef<'static>,
    /// Capital height as a fraction of the pixel size.
    cap: f32,
}

impl Face {
    /// Parses the embedded font, once per process.
    fn get() -> Result<Face, PlotError> {
        static FACE: OnceLock<Result<(FontRef<'static>, f32), ab_glyph::InvalidFont>> = OnceLock::new();
        let parsed = FACE.get_or_init(|| {
            let font = FontRef::try_from_slice(FONT)?;
            let scaled = font.as_scaled(PxScale::from(1.0));
            // ab_glyph stores outline bounds with y pointing up and the top in
            // `min.y`; take the larger either way.
            let cap =
                font.outline(font.glyph_id('H')).map_or(0.7 * scaled.ascent(), |o| o.bounds.min.y.max(o.bounds.max.y) * scaled.v_scale_factor());
            Ok((font, cap))
        });
        match parsed {
            Ok((font, cap)) => Ok(Face { font, cap: *cap }),
            Err(e) => Err(PlotError::Font(*e)),
        }
    }

    /// The advance width of `text` at `size` pixels, kerning included.
    fn width(&self, text: &str, size: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(size));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// The height of a line of text at `size` pixels.
    fn line_height(&self, size: f32) -> f32 {
        self.font.as_scaled(PxScale::from(size)).height()
    }

    /// Replaces control characters and, if needed, shortens `text` with an
    /// ellipsis so that it is at most `max_width` pixels wide at `size`.
    fn fit(&self, text: &str, size: f32, max_width: f32) -> String {
        let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if self.width(&clean, size) <= max_width {
            return clean;
        }
        let chars: Vec<char> = clean.chars().collect();
        let cut = |n: usize| chars[..n].iter().collect::<String>().trim_end().to_string() + "…";
        // The longest prefix that fits with the ellipsis (binary search).
        let (mut lo, mut hi) = (0, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.width(&cut(mid), size) <= max_width { lo = mid } else { hi = mid - 1 }
        }
        if lo == 0 { String::new() } else { cut(lo) }
    }

    /// Draws `label` into an RGB buffer of `width` × `height` pixels,
    /// blending by glyph coverage; pixels outside the buffer are dropped.
    fn draw(&self, label: &Label, rgb: &mut [u8], width: u32, height: u32) {
        let font = self.font.as_scaled(PxScale::from(label.size));
        let text_width = self.width(&label.text, label.size);
        // Text-local coordinates: u along the text, v down across it, origin
        // at the anchor.
        let u0 = match label.align {
            Align::Start => 0.0,
            Align::Centre => -text_width / 2.0,
            Align::End => -text_width,
        };
        let baseline = match label.valign {
            Align::Start => font.ascent(),
            Align::Centre => self.cap * label.size / 2.0,
            Align::End => font.descent(),
        };
        let (colour, (w, h)) = ([label.colour.0, label.colour.1, label.colour.2], (width as i64, height as i64));
        let mut put = |u: f32, v: f32, coverage: f32| {
            let (x, y) = if label.upward { (label.x + v, label.y - u - 1.0) } else { (u, v) };
            let (x, y) = (x.floor() as i64, y.floor() as i64);
            if x < 0 || y < 0 || x >= w || y >= h {
                return;
            }
            let a = coverage.clamp(0.0, 1.0);
            let i = (y * w + x) as usize * 3;
            for (dst, src) in rgb[i..i + 3].iter_mut().zip(colour) {
                *dst = (f32::from(*dst) * (1.0 - a) + f32::from(src) * a).round() as u8;
            }
        };
        // Horizontal text is laid out at its final position, so that glyphs
        // get exact sub-pixel coverage; upward text is laid out at the origin
        // and rotated pixel by pixel.
        let origin = if label.upward { (0.0, 0.0) } else { (label.x, label.y) };
        let mut pen = u0;
        let mut previous = None;
        for c in label.text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += font.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(label.size, point(origin.0 + pen, origin.1 + baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| put(bounds.min.x + gx as f32, bounds.min.y + gy as f32, coverage));
            }
            pen += font.h_advance(id);
        }
    }
}

// ---------------------------------------------------------------------------
// Data ranges and ticks

/// Whether a point can be drawn: both coordinates finite and not huge.
fn usable(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && x.abs() <= MAX_MAGNITUDE && y.abs() <= MAX_MAGNITUDE
}

/// The x range shared by all panels, and whether every x value is an
/// integer (then ticks fall on integers too).
fn shared_x_range(panels: &[Panel<'_>]) -> ((f64, f64), bool) {
    let mut low = f64::INFINITY;
    let mut high = f64::NEG_INFINITY;
    let mut integral = true;
    for &(x, _) in panels.iter().flat_map(|p| p.series.iter()).flat_map(|s| s.points.iter()).filter(|p| usable(p)) {
        low = low.min(x);
        high = high.max(x);
        integral &= x.fract() == 0.0;
    }
    if low > high {
        return ((0.0, 1.0), true);
    }
    if low == high {
        // A single epoch: one whole step either side.
        let pad = (low.abs() * 1e-6).max(1.0);
        return ((low - pad, high + pad), integral);
    }
    ((low, high), integral)
}

/// The y range that fits a panel's drawable points, with 5% headroom; a
/// flat series gets ±10% of its value (±1 around zero).
fn fit_y_range(panel: &Panel<'_>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(_, y) in panel.series.iter().flat_map(|s| s.points.iter()).filter(|p| usable(p)) {
        low = low.min(y);
        high = high.max(y);
    }
    if low > high {
        return (0.0, 1.0);
    }
    if low == high {
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        return (low - pad, high + pad);
    }
    let pad = (high - low) * 0.05;
    (low - pad, high + pad)
}

/// The tick positions for `range` with at most `n` ticks (plotters' choice
/// of round numbers).
fn ticks(range: (f64, f64), n: usize) -> Vec<f64> {
    RangedCoordf64::from(range.0..range.1).key_points(n)
}

/// How tick values are written: fixed decimals or scientific notation with
/// that many mantissa decimals.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TickFormat {
    Fixed(usize),
    Sci(usize),
}

impl TickFormat {
    /// The shortest format that writes every tick exactly enough to tell
    /// neighbours apart.
    fn for_ticks(ticks: &[f64]) -> Self {
        let max_abs = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
        let step = ticks.windows(2).map(|w| (w[1] - w[0]).abs()).filter(|s| *s > 0.0).fold(f64::INFINITY, f64::min);
        let step = if step.is_finite() {
            step
        } else if max_abs > 0.0 {
            max_abs
        } else {
            1.0
        };
        let tolerance = step * 1e-3;
        let fits = |format: TickFormat| ticks.iter().all(|t| format.write(*t).parse::<f64>().is_ok_and(|v| (v - t).abs() <= tolerance));
        if max_abs < 1e6
            && (max_abs == 0.0 || max_abs >= 1e-3)
            && let Some(f) = (0..=8).map(TickFormat::Fixed).find(|f| fits(*f))
        {
            return f;
        }
        (0..=8).map(TickFormat::Sci).find(|f| fits(*f)).unwrap_or(TickFormat::Sci(8))
    }

    fn write(self, v: f64) -> String {
        let s = match self {
            TickFormat::Fixed(d) => format!("{v:.d$}"),
            TickFormat::Sci(_) if v == 0.0 => "0".to_string(),
            TickFormat::Sci(d) => format!("{v:.d$e}"),
        };
        // Never write "-0" or "-0.00".
        match s.strip_prefix('-') {
            Some(rest) if rest.parse::<f64>() == Ok(0.0) => rest.to_string(),
            _ => s,
        }
    }
}

// ---------------------------------------------------------------------------
// Series and legend

/// How a series' line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LineLook {
    colour: RGBColor,
    /// `(dash, gap)` lengths in pixels, or `None` for a solid line.
    dash: Option<(u32, u32)>,
}

fn line_look(index: usize) -> LineLook {
    let dash = match (index / PALETTE.len()) % 3 {
        0 => None,
        1 => Some((9, 5)),
        _ => Some((2, 4)),
    };
    LineLook { colour: PALETTE[index % PALETTE.len()], dash }
}

/// A legend entry: a line sample (none for the "+N more" note) and text.
struct LegendItem {
    look: Option<LineLook>,
    text: String,
    width: i32,
}

/// Packs the legend into at most [`LEGEND_MAX_ROWS`] rows of `max_width`
/// pixels; entries that do not fit are summarised as "+N more".
fn legend_rows(face: Face, series: &[Series<'_>], max_width: i32) -> Vec<Vec<LegendItem>> {
    let text_width = |s: &str| face.width(s, LEGEND_SIZE).ceil() as i32;
    let sample = LEGEND_SAMPLE + LEGEND_SAMPLE_GAP;
    let mut rows: Vec<Vec<LegendItem>> = Vec::new();
    let mut row_width = 0;
    let mut shown = 0;
    for (i, s) in series.iter().enumerate() {
        let text = face.fit(s.name, LEGEND_SIZE, (max_width - sample).max(0) as f32);
        let width = sample + text_width(&text);
        let needed = row_width + LEGEND_ITEM_GAP + width;
        if rows.is_empty() || needed > max_width {
            if rows.len() == LEGEND_MAX_ROWS {
                break;
            }
            rows.push(Vec::new());
            row_width = width;
        } else {
            row_width = needed;
        }
        if let Some(row) = rows.last_mut() {
            row.push(LegendItem { look: Some(line_look(i)), text, width });
        }
        shown += 1;
    }
    if let Some(last) = rows.last_mut().filter(|_| shown < series.len()) {
        loop {
            let more = format!("+{} more", series.len() - shown);
            let width = text_width(&more);
            let used: i32 = last.iter().map(|item| item.width + LEGEND_ITEM_GAP).sum();
            if used + width <= max_width || last.is_empty() {
                last.push(LegendItem { look: None, text: more, width });
                break;
            }
            last.pop();
            shown -= 1;
        }
    }
    rows
}

/// Splits the drawable points of a series into polylines clipped to the y
/// range `(low, high)`: a non-finite point or a stretch outside the range
/// ends one polyline and the next drawable stretch starts another.
fn polylines(points: &[(f64, f64)], (low, high): (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut previous: Option<(f64, f64)> = None;
    let mut flush = |current: &mut Vec<(f64, f64)>| {
        if !current.is_empty() {
            out.push(std::mem::take(current));
        }
    };
    for &p in points {
        if !usable(&p) {
            flush(&mut current);
            previous = None;
            continue;
        }
        match previous {
            None if low <= p.1 && p.1 <= high => current.push(p),
            None => {}
            Some(a) => match clip_segment(a, p, low, high) {
                None => flush(&mut current),
                Some((c0, c1)) => {
                    if current.last() != Some(&c0) {
                        flush(&mut current);
                        current.push(c0);
                    }
                    current.push(c1);
                    if c1 != p {
                        flush(&mut current);
                    }
                }
            },
        }
        previous = Some(p);
    }
    flush(&mut current);
    out
}

/// Clips the segment `a`–`b` to `low <= y <= high`, keeping the endpoints
/// that are inside exactly.
fn clip_segment(a: (f64, f64), b: (f64, f64), low: f64, high: f64) -> Option<((f64, f64), (f64, f64))> {
    let dy = b.1 - a.1;
    let (t0, t1) = if dy == 0.0 {
        if low <= a.1 && a.1 <= high { (0.0, 1.0) } else { return None }
    } else {
        let (ta, tb) = ((low - a.1) / dy, (high - a.1) / dy);
        (ta.min(tb).max(0.0), ta.max(tb).min(1.0))
    };
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| {
        if t <= 0.0 {
            a
        } else if t >= 1.0 {
            b
        } else {
            (a.0 + t * (b.0 - a.0), (a.1 + t * dy).clamp(low, high))
        }
    };
    Some((at(t0), at(t1)))
}

// ---------------------------------------------------------------------------
// Panels

/// How to lay out one panel: what all panels share, plus its y range and
/// legend.
struct PanelLayout<'a> {
    face: Face,
    x_label: &'a str,
    x_range: (f64, f64),
    x_integral: bool,
    y_range: (f64, f64),
    legend: &'a [Vec<LegendItem>],
    /// The height of the legend band, the same in every panel.
    legend_band: u32,
}

/// Draws one panel's lines, grid, axes and legend samples with plotters and
/// queues its text in `texts`; returns the plotting area's pixel ranges.
fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    panel: &Panel<'_>,
    layout: &PanelLayout<'_>,
    texts: &mut Vec<Label>,
    what: &dyn Fn(&str) -> String,
) -> Result<(Range<i32>, Range<i32>), PlotError> {
    let face = layout.face;
    let (width, _) = area.dim_in_pixel();
    let (left, top) = area.get_base_pixel();
    let centre = left as f32 + width as f32 / 2.0;
    let line = |from: (i32, i32), to: (i32, i32), style: ShapeStyle| root.draw(&PathElement::new(vec![from, to], style));

    // Title.
    let title = face.fit(panel.title, PANEL_TITLE_SIZE, width.saturating_sub(2 * SIDE_PAD) as f32);
    texts.push(Label::new(title, PANEL_TITLE_SIZE, centre, top as f32 + PANEL_TITLE_BAND as f32 / 2.0));

    // Legend, centred under the title, one row per LEGEND_ROW pixels.
    let legend_top = top + PANEL_TITLE_BAND as i32;
    for (r, row) in layout.legend.iter().enumerate() {
        let total = row.iter().map(|item| item.width).sum::<i32>() + LEGEND_ITEM_GAP * (row.len() as i32 - 1);
        let mut x = centre as i32 - total / 2;
        let y = legend_top + r as i32 * LEGEND_ROW as i32 + LEGEND_ROW as i32 / 2;
        for item in row {
            let mut text_x = x;
            if let Some(look) = item.look {
                let style = look.colour.stroke_width(LINE_WIDTH + 1);
                let (dash, gap) = look.dash.map_or((LEGEND_SAMPLE, 0), |(d, g)| (d as i32, g as i32));
                let mut s = 0;
                while s < LEGEND_SAMPLE {
                    let e = (s + dash).min(LEGEND_SAMPLE);
                    line((x + s, y), (x + e, y), style).map_err(|e| draw_err(what("the legend"), e))?;
                    s = e + gap;
                }
                text_x += LEGEND_SAMPLE + LEGEND_SAMPLE_GAP;
            }
            texts.push(Label::new(item.text.clone(), LEGEND_SIZE, text_x as f32, y as f32).aligned(Align::Start, Align::Centre));
            x += item.width + LEGEND_ITEM_GAP;
        }
    }
    let (_, chart_area) = area.split_vertically(PANEL_TITLE_BAND + layout.legend_band);

    // Ticks, and room for their labels and the axis labels.
    let (x_range, y_range) = (layout.x_range, layout.y_range);
    let x_tick_count = if layout.x_integral { X_TICKS.min((x_range.1 - x_range.0).floor() as usize + 1).max(2) } else { X_TICKS };
    let x_ticks = ticks(x_range, x_tick_count);
    let x_format = TickFormat::for_ticks(&x_ticks);
    let y_ticks = ticks(y_range, Y_TICKS);
    let y_format = TickFormat::for_ticks(&y_ticks);
    let y_tick_labels: Vec<String> = y_ticks.iter().map(|t| y_format.write(*t)).collect();
    let tick_label_width = y_tick_labels.iter().map(|s| face.width(s, TICK_SIZE).ceil() as u32).max().unwrap_or(0);
    let desc_height = face.line_height(DESC_SIZE).ceil() as u32;
    let y_area = TICK_LABEL_GAP as u32 + tick_label_width + 8 + desc_height + 2;
    let x_area = TICK_LABEL_GAP as u32 + face.line_height(TICK_SIZE).ceil() as u32 + 6 + desc_height + 2;

    let margin_left = SIDE_PAD / 2;
    let chart = ChartBuilder::on(&chart_area)
        .margin_top(8)
        .margin_bottom(4)
        .margin_left(margin_left)
        .margin_right(SIDE_PAD + 8)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(|e| draw_err(what("the axes"), e))?;
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let (x0, x1, y0, y1) = (xs.start, xs.end - 1, ys.start, ys.end - 1);
    let to_px = |x: f64, y: f64| chart.as_coord_spec().translate(&(x, y));

    // Grid, under everything else.
    let grid = GRID.stroke_width(1);
    let err = |e| draw_err(what("the grid"), e);
    for &t in &x_ticks {
        let px = to_px(t, y_range.0).0;
        line((px, y0), (px, y1), grid).map_err(err)?;
    }
    for &t in &y_ticks {
        let py = to_px(x_range.0, t).1;
        line((x0, py), (x1, py), grid).map_err(err)?;
    }

    // Series.
    for (i, series) in panel.series.iter().enumerate() {
        let look = line_look(i);
        let style = look.colour.stroke_width(LINE_WIDTH);
        let err = |e| draw_err(what(&format!("series {i} ({:?})", series.name)), e);
        for points in polylines(series.points, y_range) {
            let series_area = chart.plotting_area();
            if points.len() == 1 {
                series_area.draw(&Circle::new(points[0], MARKER_RADIUS, look.colour.filled())).map_err(err)?;
            } else if let Some((dash, gap)) = look.dash {
                for element in DashedLineSeries::new(points, dash, gap, style) {
                    series_area.draw(&element).map_err(err)?;
                }
            } else {
                series_area.draw(&PathElement::new(points, style)).map_err(err)?;
            }
        }
    }

    // Axes, tick marks and tick labels.
    let axis = AXIS.stroke_width(1);
    let err = |e| draw_err(what("the axes"), e);
    line((x0, y0), (x0, y1), axis).map_err(err)?;
    line((x0, y1), (x1, y1), axis).map_err(err)?;
    for &t in &x_ticks {
        let px = to_px(t, y_range.0).0;
        line((px, y1), (px, y1 + TICK_MARK), axis).map_err(err)?;
        let label = Label::new(x_format.write(t), TICK_SIZE, px as f32 + 0.5, (y1 + TICK_LABEL_GAP) as f32);
        texts.push(label.aligned(Align::Centre, Align::Start));
    }
    for (&t, text) in y_ticks.iter().zip(y_tick_labels) {
        let py = to_px(x_range.0, t).1;
        line((x0 - TICK_MARK, py), (x0, py), axis).map_err(err)?;
        texts.push(Label::new(text, TICK_SIZE, (x0 - TICK_LABEL_GAP) as f32, py as f32 + 0.5).aligned(Align::End, Align::Centre));
    }

    // Axis labels: x under the tick labels, y reading upwards at the left edge.
    let (chart_left, chart_top) = chart_area.get_base_pixel();
    let (_, chart_height) = chart_area.dim_in_pixel();
    let x_desc = face.fit(layout.x_label, DESC_SIZE, (x1 - x0) as f32);
    let x_desc_y = (chart_top + chart_height as i32 - 4 - 2) as f32;
    texts.push(Label::new(x_desc, DESC_SIZE, (x0 + x1) as f32 / 2.0, x_desc_y).aligned(Align::Centre, Align::End));
    let y_desc = face.fit(panel.y_label, DESC_SIZE, (y1 - y0) as f32);
    let y_desc_x = (chart_left + margin_left as i32 + 2) as f32;
    let mut label = Label::new(y_desc, DESC_SIZE, y_desc_x, (y0 + y1) as f32 / 2.0).aligned(Align::Centre, Align::Start);
    label.upward = true;
    texts.push(label);
    Ok((xs, ys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("PNG header decodes");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame decodes");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn curve(n: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (1..=n).map(|e| (e as f64, f(e as f64))).collect()
    }

    fn two_panels<'a>(loss: &'a [(f64, f64)], train: &'a [(f64, f64)], val: &'a [(f64, f64)]) -> Vec<Panel<'a>> {
        vec![
            Panel { title: "Training loss", y_label: "loss", series: vec![Series { name: "loss", points: loss }], y_range: None },
            Panel {
                title: "Accuracy",
                y_label: "accuracy",
                series: vec![Series { name: "train", points: train }, Series { name: "validation", points: val }],
                y_range: Some((0.0, 1.0)),
            },
        ]
    }

    /// Counts pixels darker than mid-grey inside a pixel rectangle.
    fn dark_pixels(canvas: &Canvas, xs: std::ops::Range<i32>, ys: std::ops::Range<i32>) -> usize {
        let mut n = 0;
        for y in ys.start.max(0)..ys.end.min(canvas.height as i32) {
            for x in xs.start.max(0)..xs.end.min(canvas.width as i32) {
                let i = (y as usize * canvas.width as usize + x as usize) * 3;
                let luma = (u32::from(canvas.rgb[i]) * 299 + u32::from(canvas.rgb[i + 1]) * 587 + u32::from(canvas.rgb[i + 2]) * 114) / 1000;
                n += usize::from(luma < 160);
            }
        }
        n
    }

    fn assert_renders(panels: &[Panel<'_>]) -> Vec<u8> {
        let bytes = render_png("Awkward input", "epoch", panels).expect("renders");
        let (w, h, _) = decode(&bytes);
        assert_eq!((w, h), (PANEL_WIDTH * panels.len() as u32, HEIGHT));
        bytes
    }

    #[test]
    fn png_has_signature_and_ihdr_size() {
        let (loss, train, val) = (curve(30, |e| 2.0 / e), curve(30, |e| 1.0 - 0.5 / e), curve(30, |e| 0.9 - 0.5 / e));
        let bytes = render_png("GCN on Cora", "epoch", &two_panels(&loss, &train, &val)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1200);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 450);
        let (w, h, pixels) = decode(&bytes);
        assert_eq!((w, h), (1200, 450));
        assert_eq!(pixels.len(), 1200 * 450 * 3);
        // White background: the top-left corner and most pixels are white.
        assert_eq!(&pixels[..3], &[255, 255, 255]);
        assert!(pixels.chunks(3).filter(|p| p == &[255, 255, 255]).count() > 1200 * 450 / 2);
    }

    #[test]
    fn title_text_is_drawn() {
        let (loss, train, val) = (curve(10, |e| 1.0 / e), curve(10, |e| e / 10.0), curve(10, |e| e / 12.0));
        let panels = two_panels(&loss, &train, &val);
        let a = render_rgb("First title", "epoch", &panels).unwrap();
        let b = render_rgb("Another, different title", "epoch", &panels).unwrap();
        let again = render_rgb("First title", "epoch", &panels).unwrap();
        assert_eq!(a.rgb, again.rgb, "rendering is deterministic");
        let band = TITLE_BAND as usize * a.width as usize * 3;
        assert_ne!(a.rgb[..band], b.rgb[..band], "the title band shows the title");
        assert_eq!(a.rgb[band..], b.rgb[band..], "only the title band differs");
        assert!(dark_pixels(&a, 0..a.width as i32, 0..TITLE_BAND as i32) > 100);
    }

    #[test]
    fn panel_title_legend_and_labels_are_drawn() {
        let (loss, train, val) = (curve(10, |e| 1.0 / e), curve(10, |e| e / 10.0), curve(10, |e| e / 12.0));
        let panels = two_panels(&loss, &train, &val);
        let mut renamed = two_panels(&loss, &train, &val);
        renamed[1].title = "Scores";
        renamed[1].series[1].name = "held-out";
        let a = render_rgb("t", "epoch", &panels).unwrap();
        let b = render_rgb("t", "epoch", &renamed).unwrap();
        let row = a.width as usize * 3;
        let legend_end = (TITLE_BAND + PANEL_TITLE_BAND + LEGEND_ROW + 4) as usize;
        let differs = |ys: std::ops::Range<usize>| a.rgb[ys.start * row..ys.end * row] != b.rgb[ys.start * row..ys.end * row];
        assert!(differs(TITLE_BAND as usize..(TITLE_BAND + PANEL_TITLE_BAND) as usize), "panel title drawn");
        assert!(differs((TITLE_BAND + PANEL_TITLE_BAND) as usize..legend_end), "legend drawn");
        assert_eq!(a.rgb[legend_end * row..], b.rgb[legend_end * row..], "charts unchanged");
        let c = render_rgb("t", "time", &panels).unwrap();
        let (_, ys) = a.plot_areas[0].clone();
        assert_ne!(a.rgb[ys.end as usize * row..], c.rgb[ys.end as usize * row..], "x label drawn under the axes");
    }

    /// The pixel box a label's text occupies: its advance width by the
    /// line box (horizontal) or the reverse (upward).
    fn label_box(face: Face, label: &Label) -> (Range<i32>, Range<i32>) {
        let font = face.font.as_scaled(PxScale::from(label.size));
        let w = face.width(&label.text, label.size);
        let start = match label.align {
            Align::Start => 0.0,
            Align::Centre => -w / 2.0,
            Align::End => -w,
        };
        let (top, bottom) = match label.valign {
            Align::Start => (0.0, font.height()),
            Align::Centre => (-face.cap * label.size / 2.0 - (font.ascent() - face.cap * label.size), face.cap * label.size / 2.0 - font.descent()),
            Align::End => (-font.height(), 0.0),
        };
        let span = |a: f32, b: f32| a.floor() as i32..b.ceil() as i32;
        if label.upward {
            (span(label.x + top, label.x + bottom), span(label.y - start - w, label.y - start))
        } else {
            (span(label.x + start, label.x + start + w), span(label.y + top, label.y + bottom))
        }
    }

    fn overlaps(a: &(Range<i32>, Range<i32>), b: &(Range<i32>, Range<i32>)) -> bool {
        a.0.start < b.0.end && b.0.start < a.0.end && a.1.start < b.1.end && b.1.start < a.1.end
    }

    #[test]
    fn tick_labels_are_drawn() {
        let (loss, train, val) = (curve(50, |e| 3.0 / e), curve(50, |e| 1.0 - 1.0 / e), curve(50, |e| 0.8 - 1.0 / e));
        let canvas = render_rgb("ticks", "epoch", &two_panels(&loss, &train, &val)).unwrap();
        let face = Face::get().unwrap();
        assert_eq!(canvas.plot_areas.len(), 2);
        for (i, (xs, ys)) in canvas.plot_areas.iter().enumerate() {
            let panel = i as i32 * PANEL_WIDTH as i32..(i as i32 + 1) * PANEL_WIDTH as i32;
            assert!(xs.start > panel.start + 40 && xs.end <= panel.end && ys.len() > 250, "panel {i}: {xs:?} × {ys:?}");
            let ticks: Vec<&Label> = canvas.labels.iter().filter(|l| l.size == TICK_SIZE && panel.contains(&(l.x as i32))).collect();
            let y_ticks = ticks.iter().filter(|l| l.align == Align::End).count();
            let x_ticks = ticks.iter().filter(|l| l.align == Align::Centre).count();
            assert!(y_ticks >= 4 && x_ticks >= 4, "panel {i}: {y_ticks} y and {x_ticks} x tick labels");
            for label in ticks {
                assert!(label.text.parse::<f64>().is_ok(), "{:?}", label.text);
                let (bx, by) = label_box(face, label);
                let ink = dark_pixels(&canvas, bx.clone(), by.clone());
                assert!(ink >= 4, "panel {i}: tick label {:?} at {bx:?} × {by:?} has {ink} dark pixels", label.text);
            }
        }
    }

    #[test]
    fn text_does_not_overlap() {
        let (loss, train, val) = (curve(200, |e| 1e4 / e), curve(200, |e| 1.0 - 1.0 / e), curve(200, |e| 0.8 - 1.0 / e));
        let mut panels = two_panels(&loss, &train, &val);
        let names: Vec<String> = (0..9).map(|k| format!("a fairly long series name {k}")).collect();
        panels[1].series = names.iter().map(|n| Series { name: n, points: &val }).collect();
        let canvas = render_rgb("overlap check", "epoch", &panels).unwrap();
        let face = Face::get().unwrap();
        let boxes: Vec<_> = canvas.labels.iter().filter(|l| !l.text.is_empty()).map(|l| (l, label_box(face, l))).collect();
        for (a, (la, ba)) in boxes.iter().enumerate() {
            assert!(
                ba.0.start >= 0 && ba.0.end <= canvas.width as i32 && ba.1.start >= 0 && ba.1.end <= canvas.height as i32,
                "{:?} inside",
                la.text
            );
            for (lb, bb) in &boxes[a + 1..] {
                assert!(!overlaps(ba, bb), "{:?} {ba:?} overlaps {:?} {bb:?}", la.text, lb.text);
            }
            for (xs, ys) in &canvas.plot_areas {
                assert!(!overlaps(ba, &(xs.clone(), ys.clone())), "{:?} {ba:?} overlaps the plotting area {xs:?} × {ys:?}", la.text);
            }
        }
    }

    #[test]
    fn series_get_distinct_colours() {
        let a = curve(20, |e| e);
        let b = curve(20, |e| 20.0 - e);
        let c = curve(20, |_| 10.0);
        let panel = Panel {
            title: "three",
            y_label: "y",
            series: vec![Series { name: "a", points: &a }, Series { name: "b", points: &b }, Series { name: "c", points: &c }],
            y_range: None,
        };
        let canvas = render_rgb("colours", "epoch", &[panel]).unwrap();
        for colour in &PALETTE[..3] {
            let rgb = [colour.0, colour.1, colour.2];
            let n = canvas.rgb.chunks(3).filter(|p| *p == rgb).count();
            assert!(n > 50, "{colour:?} drawn ({n} pixels)");
        }
        let looks: Vec<_> = (0..PALETTE.len()).map(|i| line_look(i).colour).collect();
        for (i, a) in looks.iter().enumerate() {
            assert!(looks[i + 1..].iter().all(|b| b != a));
        }
        assert!(line_look(PALETTE.len()).dash.is_some() && line_look(2 * PALETTE.len()).dash != line_look(PALETTE.len()).dash);
    }

    #[test]
    fn zero_points() {
        let empty: Vec<(f64, f64)> = Vec::new();
        assert_renders(&two_panels(&empty, &empty, &empty));
        assert_renders(&[Panel { title: "no series", y_label: "", series: vec![], y_range: None }]);
    }

    #[test]
    fn one_point_and_single_epoch() {
        let one = [(1.0, 0.5)];
        assert_renders(&two_panels(&one, &one, &one));
        let one_big = [(7.0, 1e-7)];
        let canvas =
            render_rgb("single", "epoch", &[Panel { title: "x", y_label: "y", series: vec![Series { name: "s", points: &one_big }], y_range: None }])
                .unwrap();
        let colour = [PALETTE[0].0, PALETTE[0].1, PALETTE[0].2];
        assert!(canvas.rgb.chunks(3).any(|p| p == colour), "a lone point is drawn as a dot");
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let pts = [(1.0, f64::NAN), (2.0, 1.0), (f64::INFINITY, 2.0), (3.0, f64::NEG_INFINITY), (4.0, 0.5), (5.0, 0.25), (f64::NAN, f64::NAN)];
        let all_bad = [(f64::NAN, 1.0), (1.0, f64::INFINITY), (1e301, 0.0)];
        assert_renders(&two_panels(&pts, &all_bad, &pts));
        let lines = polylines(&pts, (0.0, 10.0));
        assert_eq!(lines, vec![vec![(2.0, 1.0)], vec![(4.0, 0.5), (5.0, 0.25)]]);
    }

    #[test]
    fn all_equal_values() {
        let flat = curve(20, |_| 0.75);
        let zeros = curve(20, |_| 0.0);
        let panels = [
            Panel { title: "flat", y_label: "y", series: vec![Series { name: "flat", points: &flat }], y_range: None },
            Panel { title: "zeros", y_label: "y", series: vec![Series { name: "zeros", points: &zeros }], y_range: None },
        ];
        assert_renders(&panels);
        let same_x = [(3.0, 1.0), (3.0, 2.0), (3.0, 1.5)];
        assert_renders(&two_panels(&same_x, &same_x, &same_x));
    }

    #[test]
    fn ten_thousand_epochs() {
        let loss = curve(10_000, |e| 1.0 / e.sqrt() + 0.01 * (e * 0.1).sin());
        let acc = curve(10_000, |e| 1.0 - 1.0 / e.sqrt());
        assert_renders(&two_panels(&loss, &acc, &acc));
    }

    #[test]
    fn long_names_and_titles() {
        let p = curve(5, |e| e);
        let long = "a very long series name that goes on and on, far wider than any panel could ever show in one line ".repeat(5);
        let panel = Panel {
            title: &long,
            y_label: &long,
            series: vec![Series { name: &long, points: &p }, Series { name: "tab\tand\nnewline ±×–·@", points: &p }],
            y_range: None,
        };
        assert_renders(&[panel.clone(), panel]);
        render_png(&long, &long, &[Panel { title: "", y_label: "", series: vec![], y_range: None }]).unwrap();
    }

    #[test]
    fn more_series_than_colours() {
        let curves: Vec<Vec<(f64, f64)>> = (0..40).map(|k| curve(15, |e| (e + k as f64).ln())).collect();
        let names: Vec<String> = (0..40).map(|k| format!("series number {k}")).collect();
        let series: Vec<Series<'_>> = curves.iter().zip(&names).map(|(c, n)| Series { name: n, points: c }).collect();
        let panel = Panel { title: "many", y_label: "ln", series, y_range: None };
        assert_renders(&[panel]);
    }

    #[test]
    fn fixed_range_clips_lines() {
        let pts = [(1.0, -1.0), (2.0, 0.5), (3.0, 2.0), (4.0, 0.5)];
        assert_renders(&two_panels(&pts, &pts, &pts));
        let lines = polylines(&pts, (0.0, 1.0));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], vec![(1.0 + 2.0 / 3.0, 0.0), (2.0, 0.5), (2.0 + 1.0 / 3.0, 1.0)]);
        assert_eq!(lines[1], vec![(3.0 + 2.0 / 3.0, 1.0), (4.0, 0.5)]);
    }

    #[test]
    fn invalid_input_is_a_typed_error() {
        assert!(matches!(render_png("t", "epoch", &[]), Err(PlotError::NoPanels)));
        let p = [(1.0, 1.0)];
        let panel = |r| Panel { title: "p", y_label: "y", series: vec![Series { name: "s", points: &p }], y_range: Some(r) };
        for r in [(1.0, 1.0), (2.0, 1.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
            let e = render_png("t", "epoch", &[panel(r)]).unwrap_err();
            assert!(matches!(e, PlotError::InvalidYRange { panel: 0, .. }), "{e}");
            assert!(e.to_string().contains("invalid y range"), "{e}");
        }
        let many: Vec<Panel<'_>> = (0..=MAX_PANELS).map(|_| panel((0.0, 1.0))).collect();
        assert!(matches!(render_png("t", "epoch", &many), Err(PlotError::TooManyPanels { count: 9, max: 8 })));
    }

    #[test]
    fn embedded_font_covers_the_needed_characters() {
        let face = Face::get().unwrap();
        let needed = (' '..='~').chain('\u{a0}'..='\u{ff}').chain("±×–—·…•−≤≥≈≠∞αβγδεηθλμσωΔΣΩ‘’“”€→".chars());
        for c in needed {
            assert_ne!(face.font.glyph_id(c).0, 0, "no glyph for {c:?} (U+{:04X})", c as u32);
        }
        assert!(FONT.len() < 100_000, "the embedded font stays small ({} bytes)", FONT.len());
        assert!(face.cap > 0.5 && face.cap < 0.8, "cap height {}", face.cap);
        // Side bearings are honoured: "il" is narrower than "ll" but wider than nothing.
        assert!(face.width("il", 20.0) < face.width("ll", 20.0) + 1.0);
        assert_eq!(face.fit("short", 14.0, 1000.0), "short");
        let cut = face.fit("a rather long legend entry", 14.0, 80.0);
        assert!(cut.ends_with('…') && face.width(&cut, 14.0) <= 80.0, "{cut:?}");
        assert_eq!(face.fit("line\nbreak", 14.0, 1000.0), "line break");
        assert_eq!(face.fit("wide", 14.0, 1.0), "");
    }

    #[test]
    fn upward_text_is_rotated() {
        let face = Face::get().unwrap();
        let (w, h) = (60u32, 200u32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        let mut label = Label::new("a long upward label".into(), 15.0, 20.0, 100.0).aligned(Align::Centre, Align::Start);
        label.upward = true;
        face.draw(&label, &mut rgb, w, h);
        let dark: Vec<(u32, u32)> =
            (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| rgb[((y * w + x) * 3) as usize] < 128).collect();
        let (xs, ys): (Vec<u32>, Vec<u32>) = dark.iter().copied().unzip();
        let (x_span, y_span) = (xs.iter().max().unwrap() - xs.iter().min().unwrap(), ys.iter().max().unwrap() - ys.iter().min().unwrap());
        assert!(y_span > 100 && x_span < 20, "text runs vertically: {x_span} × {y_span}");
        assert!(*xs.iter().min().unwrap() >= 20, "text hangs to the right of its anchor");
    }

    #[test]
    fn tick_labels_are_short_and_exact() {
        let f = TickFormat::for_ticks(&[0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(f, TickFormat::Fixed(1));
        assert_eq!(f.write(0.6000000000000001), "0.6");
        assert_eq!(TickFormat::for_ticks(&[0.0, 2000.0, 4000.0]), TickFormat::Fixed(0));
        assert_eq!(TickFormat::for_ticks(&[0.25, 0.5, 0.75]), TickFormat::Fixed(2));
        assert_eq!(TickFormat::Fixed(2).write(-0.0001), "0.00");
        let tiny = TickFormat::for_ticks(&[1e-6, 2e-6, 3e-6]);
        assert_eq!(tiny.write(2e-6), "2e-6");
        let huge = TickFormat::for_ticks(&[1e7, 1.5e7, 2e7]);
        assert_eq!(huge.write(1.5e7), "1.5e7");
        assert_eq!(TickFormat::for_ticks(&[]).write(0.0), "0");
        assert_eq!(TickFormat::Sci(1).write(0.0), "0");
        assert_eq!(ticks((1.0, 3.0), 3), vec![1.0, 2.0, 3.0]);
    }
}
