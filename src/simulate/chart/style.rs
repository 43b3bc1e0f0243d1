//! Colours, strokes and fonts. The colours are the common categorical palette (tab10); where
//! colour alone may not tell two series apart (red and green, for some readers), widths, dashes
//! and the legend's order do.

use plotters::style::{Color, RGBColor, ShapeStyle};

use super::series::Direction;

/// The one font family every SVG viewer has; text is sized by the viewer, not measured here.
pub(super) const FONT: &str = "sans-serif";

pub(super) const TEXT: RGBColor = RGBColor(34, 34, 34);
pub(super) const MUTED_TEXT: RGBColor = RGBColor(90, 90, 90);
pub(super) const FRAME: RGBColor = RGBColor(200, 200, 200);

/// Traffic and the demand it implies share one neutral grey: the load, not any policy.
pub(super) const LOAD: RGBColor = RGBColor(80, 80, 80);

pub(super) const SLOW: RGBColor = RGBColor(214, 39, 40);
pub(super) const FAST: RGBColor = RGBColor(44, 160, 44);
pub(super) const NEUTRAL: RGBColor = RGBColor(150, 150, 150);
pub(super) const SLO: RGBColor = RGBColor(120, 120, 120);

/// The `autoscaler` policy's colour; its heartbeats' p95 line uses it too.
pub(super) const AUTOSCALER: RGBColor = RGBColor(31, 119, 180);
const SEED: RGBColor = RGBColor(255, 127, 14);
const ORACLE: RGBColor = RGBColor(44, 160, 44);
const FIXED_MAX: RGBColor = RGBColor(148, 103, 189);
/// For policies the chart does not know by name, in table order.
const OTHERS: [RGBColor; 4] = [
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];

/// How a line is stroked: solid, or dashed with these lengths in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stroke {
    Solid,
    Dashed { dash: u32, gap: u32 },
}

/// A line's look: colour, width and dash.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineLook {
    pub color: RGBColor,
    pub width: u32,
    pub stroke: Stroke,
}

impl LineLook {
    pub fn shape(&self) -> ShapeStyle {
        self.color.stroke_width(self.width)
    }
}

/// A policy's supply line. The seed policy is today the autoscaler's twin and its line lies on
/// the autoscaler's: the autoscaler's is wide and the seed's thin and dashed on top, so both
/// show.
pub(super) fn policy_line(name: &str, index: usize) -> LineLook {
    let (color, width, stroke) = match name {
        "autoscaler" => (AUTOSCALER, 4, Stroke::Solid),
        "seed" => (SEED, 2, Stroke::Dashed { dash: 7, gap: 5 }),
        "oracle" => (ORACLE, 2, Stroke::Solid),
        "fixed-max" => (FIXED_MAX, 2, Stroke::Solid),
        _ => (OTHERS[index % OTHERS.len()], 2, Stroke::Solid),
    };
    LineLook {
        color,
        width,
        stroke,
    }
}

/// The horizontal lines for the response-time settings, dashed so they read as limits rather
/// than data. The SLO is often the max response time: its line is wider, grey and drawn first,
/// so the max's short red dashes on top leave it visible.
pub(super) const MAX_RESPONSE_LINE: LineLook = LineLook {
    color: SLOW,
    width: 2,
    stroke: Stroke::Dashed { dash: 5, gap: 5 },
};
pub(super) const MIN_RESPONSE_LINE: LineLook = LineLook {
    color: FAST,
    width: 2,
    stroke: Stroke::Dashed { dash: 5, gap: 5 },
};
/// A notice: a thin orange stroke across the latency panel at the time it was sent.
pub(super) const NOTICE_LINE: LineLook = LineLook {
    color: RGBColor(230, 120, 0),
    width: 1,
    stroke: Stroke::Dashed { dash: 3, gap: 3 },
};
pub(super) const SLO_LINE: LineLook = LineLook {
    color: SLO,
    width: 4,
    stroke: Stroke::Dashed { dash: 12, gap: 6 },
};

/// Half the width of a scale-call marker, in pixels.
const MARKER: i32 = 5;

/// The corners of a scale-call marker centred on `(x, y)`, in pixels: a triangle pointing the
/// way the call went.
pub(super) fn triangle((x, y): (i32, i32), direction: Direction) -> Vec<(i32, i32)> {
    let tip = match direction {
        Direction::Up => -MARKER,
        Direction::Down => MARKER,
    };
    vec![(x, y + tip), (x + MARKER, y - tip), (x - MARKER, y - tip)]
}
