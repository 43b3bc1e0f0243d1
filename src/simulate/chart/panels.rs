//! The picture: a header with the title and settings, then traffic, latency and dynos stacked on
//! one time axis, each with its legend in a column to the right.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::{ComposedElement, DashedPathElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{self, CountAxis, TimeAxis};
use super::legend::{Legend, Swatch};
use super::series::{self, Direction};
use super::style::{self, LineLook, Stroke, FONT};
use super::{ChartData, ChartError, PolicySeries};
use crate::judge::Verdict;

/// The whole picture, in pixels: wide enough for a day of minutes, tall enough for three
/// panels and a header on a laptop screen; each worker process type's panel adds to it.
pub(super) const SIZE: (u32, u32) = (1200, 900);
const WORKER_PANEL_HEIGHT: u32 = 220;

/// The picture's size for `data`.
pub(super) fn size(data: &ChartData) -> (u32, u32) {
    let workers = u32::try_from(data.workers.len()).unwrap_or(u32::MAX);
    (
        SIZE.0,
        SIZE.1
            .saturating_add(WORKER_PANEL_HEIGHT.saturating_mul(workers)),
    )
}

/// A part of the picture, in pixels from its top left corner.
pub(super) type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
/// A panel's plot: time across, `Y` up.
type Plot<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<TimeAxis, Y>>;
/// A point in pixels (plotters-backend's `BackendCoord`).
type Pixel = (i32, i32);

const HEADER_HEIGHT: u32 = 64;
/// Each panel's share of the height below the header: the dynos panel, where the policies
/// differ, gets the most.
const TRAFFIC_SHARE: u32 = 25;
const LATENCY_SHARE: u32 = 35;
/// Room left of each plot for the tick labels and the axis description, and right of it for
/// the legend: the same in every panel, so the three time axes line up.
const Y_LABEL_WIDTH: u32 = 72;
const LEGEND_WIDTH: u32 = 250;
const TIME_LABEL_HEIGHT: u32 = 26;
/// The bottom panel also carries the time axis's description.
const BOTTOM_TIME_LABEL_HEIGHT: u32 = 48;

/// Draws everything on `root`.
pub(super) fn draw_chart(root: &Area<'_>, data: &ChartData) -> Result<(), ChartError> {
    root.fill(&WHITE)?;
    let axis = TimeAxis::new(data.duration_seconds, data.start_minute_of_day);
    let (header, body) = root.split_vertically(HEADER_HEIGHT);
    draw_header(&header, data)?;
    let (web, mut workers) = body.split_vertically(SIZE.1 - HEADER_HEIGHT);
    // A real run's report has no traffic: its latency and dynos take the room.
    let (latency, dynos) = if data.traffic.is_empty() {
        let height = web.dim_in_pixel().1;
        web.split_vertically(height * 45 / 100)
    } else {
        let [traffic, latency, dynos] = stack_panels(&web);
        draw_traffic(&traffic, data, &axis)?;
        (latency, dynos)
    };
    draw_latency(&latency, data, &axis)?;
    let last = |is_last: bool| if is_last { Place::Bottom } else { Place::Upper };
    let web_dynos = Dynos {
        caption: data.dynos_caption.as_deref().unwrap_or("dynos"),
        demand: &data.demand,
        policies: &data.policies,
    };
    draw_dynos(&dynos, &web_dynos, &axis, last(data.workers.is_empty()))?;
    for (index, worker) in data.workers.iter().enumerate() {
        let (panel, rest) = workers.split_vertically(WORKER_PANEL_HEIGHT);
        let caption = format!("{} dynos", worker.process);
        let dynos = Dynos {
            caption: &caption,
            demand: &[],
            policies: &worker.policies,
        };
        draw_dynos(&panel, &dynos, &axis, last(index + 1 == data.workers.len()))?;
        workers = rest;
    }
    Ok(())
}

/// A dynos panel's content: the web's, with its demand, or a worker process type's.
struct Dynos<'d> {
    caption: &'d str,
    demand: &'d [(f64, u32)],
    policies: &'d [PolicySeries],
}

fn draw_header(area: &Area<'_>, data: &ChartData) -> Result<(), ChartError> {
    let centre = area.dim_in_pixel().0 as i32 / 2;
    let at_top_centre = Pos::new(HPos::Center, VPos::Top);
    let title = (FONT, 26)
        .into_font()
        .style(FontStyle::Bold)
        .color(&style::TEXT)
        .pos(at_top_centre);
    let subtitle = (FONT, 17)
        .into_font()
        .color(&style::MUTED_TEXT)
        .pos(at_top_centre);
    area.draw(&Text::new(data.title.as_str(), (centre, 10), title))?;
    area.draw(&Text::new(data.subtitle.as_str(), (centre, 38), subtitle))?;
    Ok(())
}

fn stack_panels<'b>(body: &Area<'b>) -> [Area<'b>; 3] {
    let height = body.dim_in_pixel().1;
    let (traffic, rest) = body.split_vertically(height * TRAFFIC_SHARE / 100);
    let (latency, dynos) = rest.split_vertically(height * LATENCY_SHARE / 100);
    [traffic, latency, dynos]
}

/// Where a panel sits in the stack: only the bottom one describes the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Upper,
    Bottom,
}

/// A panel: its plot (caption, both axes, grid) on the left, the column for its legend on the
/// right.
fn build_panel<'a, 'b, Y>(
    area: &'a Area<'b>,
    caption: &str,
    axis: &TimeAxis,
    (y, y_desc): (Y, &str),
    place: Place,
) -> Result<(Plot<'a, 'b, Y::CoordDescType>, Area<'b>), ChartError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let (plot_area, legend_column) = area.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let time_label_height = match place {
        Place::Upper => TIME_LABEL_HEIGHT,
        Place::Bottom => BOTTOM_TIME_LABEL_HEIGHT,
    };
    let mut plot = ChartBuilder::on(&plot_area)
        .caption(caption, (FONT, 17).into_font().style(FontStyle::Bold))
        .margin_top(2)
        .margin_left(8)
        // Room for the last time label, centred on the axis's end.
        .margin_right(20)
        .x_label_area_size(time_label_height)
        .y_label_area_size(Y_LABEL_WIDTH)
        .build_cartesian_2d(axis.clone(), y)?;
    draw_grid(&mut plot, y_desc, place)?;
    Ok((plot, legend_column))
}

/// Grid, ticks and axis descriptions; the time axis labels its own ticks (hh:mm).
fn draw_grid<Y>(plot: &mut Plot<'_, '_, Y>, y_desc: &str, place: Place) -> Result<(), ChartError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let y_label = |value: &f64| axes::plain_number(*value);
    let mut mesh = plot.configure_mesh();
    mesh.y_label_formatter(&y_label)
        .y_labels(6)
        // At most one light line between labelled ones: more is noise at this height.
        .y_max_light_lines(1)
        .y_desc(y_desc)
        .label_style((FONT, 15).into_font().color(&style::TEXT))
        .axis_desc_style((FONT, 16).into_font().color(&style::TEXT))
        .bold_line_style(style::FRAME.mix(0.6))
        .light_line_style(style::FRAME.mix(0.25))
        .axis_style(style::MUTED_TEXT);
    if place == Place::Bottom {
        mesh.x_desc("time (hh:mm)");
    }
    mesh.draw()?;
    Ok(())
}

/// Draws the legend level with the top of the plot.
fn draw_legend<Y: Ranged>(
    legend: &Legend,
    plot: &Plot<'_, '_, Y>,
    column: &Area<'_>,
) -> Result<(), ChartError> {
    let plot_top = plot.plotting_area().get_pixel_range().1.start;
    let column_top = column.get_base_pixel().1;
    legend.draw(column, plot_top - column_top)
}

fn draw_traffic(area: &Area<'_>, data: &ChartData, axis: &TimeAxis) -> Result<(), ChartError> {
    let top = series::traffic_top(data);
    let y = (0.0..top, "requests/s");
    let (mut plot, legend_column) = build_panel(area, "traffic", axis, y, Place::Upper)?;
    let mut legend = Legend::default();
    let runs = series::finite_runs(&data.traffic, axis);
    // A light fill under the line: the load as a quantity, like the demand in the dynos panel.
    let fill = style::LOAD.mix(0.12).filled();
    plot.draw_series(runs.iter().map(|run| Polygon::new(area_under(run), fill)))?;
    let look = LineLook {
        color: style::LOAD,
        width: 2,
        stroke: Stroke::Solid,
    };
    draw_lines(&mut plot, runs, look)?;
    legend.add("arrival rate", Swatch::Line(look));
    draw_legend(&legend, &plot, &legend_column)
}

/// A run's outline closed down to 0, for filling.
fn area_under(run: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut outline = run.to_vec();
    if let (Some(first), Some(last)) = (run.first(), run.last()) {
        outline.push((last.0, 0.0));
        outline.push((first.0, 0.0));
    }
    outline
}

fn draw_latency(area: &Area<'_>, data: &ChartData, axis: &TimeAxis) -> Result<(), ChartError> {
    let top = series::latency_top(data);
    // Log scale: 1 ms to the 30 s timeout on one axis, with fast heartbeats still apart.
    let y = (1.0..top)
        .log_scale()
        .with_key_points(axes::decade_ticks(top))
        .with_light_points(axes::between_decade_ticks(top));
    let caption = data
        .latency_caption
        .as_deref()
        .unwrap_or("latency (the autoscaler policy)");
    let (mut plot, legend_column) =
        build_panel(area, caption, axis, (y, "ms (log)"), Place::Upper)?;
    let mut legend = Legend::default();
    if !data.gaps.is_empty() {
        let shade = style::MUTED_TEXT.mix(0.15);
        let spans = data
            .gaps
            .iter()
            .filter(|(from, to)| from.is_finite() && to.is_finite())
            .map(|&(from, to)| Rectangle::new([(from, 1.0), (to, top)], shade.filled()));
        plot.draw_series(spans)?;
        legend.add("no heartbeats", Swatch::Fill(shade));
    }
    let on_axis = |ms: f64| ms.clamp(1.0, top);
    let verdicts = [
        (Verdict::Slow, "heartbeat, slow", style::SLOW),
        (Verdict::Neutral, "heartbeat, neutral", style::NEUTRAL),
        (Verdict::Fast, "heartbeat, fast", style::FAST),
    ];
    // Slow heartbeats last, on top: where dots crowd (a day has thousands), they are the ones
    // that matter.
    for &(verdict, _, color) in verdicts.iter().rev() {
        let dots = series::heartbeats_judged(data, axis, verdict);
        let dot = |(t, ms): (f64, f64)| Circle::new((t, on_axis(ms)), 2, color.mix(0.8).filled());
        plot.draw_series(dots.into_iter().map(dot))?;
    }
    for (_, label, color) in verdicts {
        legend.add(label, Swatch::Dot(color));
    }
    let p95 = LineLook {
        color: style::AUTOSCALER,
        width: 2,
        stroke: Stroke::Solid,
    };
    let p95_runs = series::finite_runs(&data.p95_per_minute, axis)
        .into_iter()
        .map(|run| run.into_iter().map(|(t, ms)| (t, on_axis(ms))).collect())
        .collect();
    if !data.p95_per_minute.is_empty() {
        draw_lines(&mut plot, p95_runs, p95)?;
        legend.add("p95 per minute", Swatch::Line(p95));
    }
    // The SLO first: it is often the max response time, and the max's red dashes then show on
    // top of its wider grey ones.
    let settings = [
        ("SLO", data.slo_ms, style::SLO_LINE),
        (
            "max response time",
            data.max_response_ms,
            style::MAX_RESPONSE_LINE,
        ),
        (
            "min response time",
            data.min_response_ms,
            style::MIN_RESPONSE_LINE,
        ),
    ];
    for (name, ms, look) in settings {
        if let Some(line) = horizontal_line(ms, axis) {
            draw_lines(&mut plot, vec![line], look)?;
            let label = format!("{name} {} ms", axes::plain_number(ms));
            legend.add(label, Swatch::Line(look));
        }
    }
    if !data.notices.is_empty() {
        let look = style::NOTICE_LINE;
        let lines = data
            .notices
            .iter()
            .filter(|(at, _)| at.is_finite() && axis.contains(*at))
            .map(|&(at, _)| vec![(at, 1.0), (at, top)])
            .collect();
        draw_lines(&mut plot, lines, look)?;
        legend.add("notice", Swatch::Line(look));
    }
    draw_legend(&legend, &plot, &legend_column)
}

/// A setting's line across the whole run; none for a value that is not finite or below 1 ms
/// (a log axis from 1 ms has no place for it). The axis reaches up to every setting.
fn horizontal_line(ms: f64, axis: &TimeAxis) -> Option<Vec<(f64, f64)>> {
    (ms.is_finite() && ms >= 1.0).then(|| vec![(0.0, ms), (axis.duration_seconds, ms)])
}

fn draw_dynos(
    area: &Area<'_>,
    dynos: &Dynos<'_>,
    axis: &TimeAxis,
    place: Place,
) -> Result<(), ChartError> {
    let y = (
        CountAxis::new(series::dynos_top(dynos.demand, dynos.policies)),
        "dynos",
    );
    let (mut plot, legend_column) = build_panel(area, dynos.caption, axis, y, place)?;
    let mut legend = Legend::default();
    if !dynos.demand.is_empty() {
        let demand_fill = style::LOAD.mix(0.15);
        let demand = series::step_corners(dynos.demand, axis);
        plot.draw_series(AreaSeries::new(demand, 0.0, demand_fill.filled()))?;
        legend.add("demand", Swatch::Fill(demand_fill));
    }
    for (index, policy) in dynos.policies.iter().enumerate() {
        let look = style::policy_line(&policy.name, index);
        draw_lines(
            &mut plot,
            vec![series::step_corners(&policy.supply, axis)],
            look,
        )?;
        legend.add(policy.name.as_str(), Swatch::Line(look));
    }
    draw_scale_calls(&mut plot, dynos.policies, axis)?;
    for (direction, label) in [
        (Direction::Up, "scale call, up"),
        (Direction::Down, "scale call, down"),
    ] {
        // Grey: one entry stands for every policy's markers, each in its policy's colour.
        legend.add(label, Swatch::Marker(direction, style::MUTED_TEXT));
    }
    draw_legend(&legend, &plot, &legend_column)
}

/// Every policy's scale calls, on top of all the lines, in the policy's colour.
fn draw_scale_calls<Y>(
    plot: &mut Plot<'_, '_, Y>,
    policies: &[PolicySeries],
    axis: &TimeAxis,
) -> Result<(), ChartError>
where
    Y: Ranged<ValueType = f64>,
{
    for (index, policy) in policies.iter().enumerate() {
        let color = style::policy_line(&policy.name, index).color;
        let calls = series::scale_calls(policy, axis);
        plot.draw_series(
            calls
                .into_iter()
                .map(|(t, count, direction)| scale_marker((t, count), direction, color)),
        )?;
    }
    Ok(())
}

/// A filled triangle at `at` pointing the way the call went, outlined so it stands out on a
/// line of its own colour.
fn scale_marker<DB: DrawingBackend>(
    at: (f64, f64),
    direction: Direction,
    color: RGBColor,
) -> ComposedElement<(f64, f64), DB, Polygon<Pixel>, PathElement<Pixel>> {
    let corners = style::triangle((0, 0), direction);
    let mut outline = corners.clone();
    outline.push(corners[0]);
    EmptyElement::at(at)
        + Polygon::new(corners, color.filled())
        + PathElement::new(outline, style::TEXT.stroke_width(1))
}

/// Draws each run as one line in `look`.
fn draw_lines<Y>(
    plot: &mut Plot<'_, '_, Y>,
    runs: Vec<Vec<(f64, f64)>>,
    look: LineLook,
) -> Result<(), ChartError>
where
    Y: Ranged<ValueType = f64>,
{
    for run in runs.into_iter().filter(|run| !run.is_empty()) {
        match look.stroke {
            Stroke::Solid => plot.draw_series([PathElement::new(run, look.shape())])?,
            Stroke::Dashed { dash, gap } => {
                plot.draw_series([DashedPathElement::new(run, dash, gap, look.shape())])?
            }
        };
    }
    Ok(())
}
