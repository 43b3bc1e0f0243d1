//! Each panel's legend, in a column of its own right of the plot. Plotters' series labels are
//! clipped to the plotting area, so there they would sit on the data; here they never do.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::panels::Area;
use super::series::Direction;
use super::style::{self, LineLook, Stroke, FONT};
use super::ChartError;

/// Room between the plot and the legend's frame.
const GAP: i32 = 12;
const PADDING: i32 = 8;
const ROW_HEIGHT: i32 = 19;
const SWATCH_WIDTH: i32 = 26;
const TEXT_INDENT: i32 = SWATCH_WIDTH + 8;

/// What stands left of a legend entry's text: a sample of how the series is drawn.
#[derive(Debug, Clone, Copy)]
pub(super) enum Swatch {
    /// A stretch of line, dashes included.
    Line(LineLook),
    /// A dot, as drawn for one heartbeat.
    Dot(RGBColor),
    /// A filled block, for an area.
    Fill(RGBAColor),
    /// A marker triangle.
    Marker(Direction, RGBColor),
}

/// A panel's legend entries, in the order they were added.
#[derive(Debug, Default)]
pub(super) struct Legend {
    entries: Vec<(String, Swatch)>,
}

impl Legend {
    /// Adds an entry at the bottom.
    pub fn add(&mut self, label: impl Into<String>, swatch: Swatch) {
        self.entries.push((label.into(), swatch));
    }

    /// Draws the legend in `column`, its top `top` pixels below the column's: level with the
    /// top of the plot.
    pub fn draw(&self, column: &Area<'_>, top: i32) -> Result<(), ChartError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let width = column.dim_in_pixel().0 as i32;
        let height = 2 * PADDING + ROW_HEIGHT * self.entries.len() as i32;
        let frame = [(GAP, top), (width - GAP, top + height)];
        column.draw(&Rectangle::new(frame, WHITE.filled()))?;
        column.draw(&Rectangle::new(frame, style::FRAME.stroke_width(1)))?;
        let text_style = (FONT, 15)
            .into_font()
            .color(&style::TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (row, (label, swatch)) in self.entries.iter().enumerate() {
            let y = top + PADDING + ROW_HEIGHT * row as i32 + ROW_HEIGHT / 2;
            let x = GAP + PADDING;
            draw_swatch(column, (x, y), *swatch)?;
            column.draw(&Text::new(
                label.as_str(),
                (x + TEXT_INDENT, y),
                &text_style,
            ))?;
        }
        Ok(())
    }
}

/// Draws `swatch` from `(x, y)` (its left end, vertically centred) rightwards.
fn draw_swatch(column: &Area<'_>, (x, y): (i32, i32), swatch: Swatch) -> Result<(), ChartError> {
    let middle = (x + SWATCH_WIDTH / 2, y);
    match swatch {
        Swatch::Line(look) => {
            let stretch = vec![(x, y), (x + SWATCH_WIDTH, y)];
            match look.stroke {
                Stroke::Solid => column.draw(&PathElement::new(stretch, look.shape()))?,
                Stroke::Dashed { dash, gap } => {
                    column.draw(&DashedPathElement::new(stretch, dash, gap, look.shape()))?
                }
            }
        }
        Swatch::Dot(color) => column.draw(&Circle::new(middle, 3, color.filled()))?,
        Swatch::Fill(color) => {
            let block = [(x, y - 6), (x + SWATCH_WIDTH, y + 6)];
            column.draw(&Rectangle::new(block, color.filled()))?
        }
        Swatch::Marker(direction, color) => column.draw(&Polygon::new(
            style::triangle(middle, direction),
            color.filled(),
        ))?,
    }
    Ok(())
}
