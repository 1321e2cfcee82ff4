//! Charts drawn on the server as SVG path data: numbers in, the `d` of a
//! `<path>` out, so a chart is tested without a browser, costs the browser
//! nothing, and needs no script. Templates write the elements.

/// A line over `values` (gaps where `None`) scaled into `width` × `height`,
/// with the same scale for every line of one chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub width: f64,
    pub height: f64,
    /// The value at the top edge; the bottom edge is 0.
    pub max: f64,
    /// Points across (the x step is `width / (count - 1)`).
    pub count: usize,
}

impl Scale {
    /// A scale fitting every value of `series`, with a little headroom.
    pub fn fit<'a>(width: f64, height: f64, series: impl IntoIterator<Item = &'a [Option<f64>]>) -> Self {
        let mut max: f64 = 0.0;
        let mut count = 0;
        for s in series {
            count = count.max(s.len());
            max = s.iter().flatten().fold(max, |m, v| m.max(*v));
        }
        Self { width, height, max: if max > 0.0 { max * 1.1 } else { 1.0 }, count }
    }

    fn x(&self, i: usize) -> f64 {
        if self.count <= 1 { self.width / 2.0 } else { self.width * i as f64 / (self.count - 1) as f64 }
    }

    fn y(&self, v: f64) -> f64 {
        self.height - (v / self.max).clamp(0.0, 1.0) * self.height
    }

    /// The `d` of a line through the values; a `None` breaks it, and a
    /// lone point is a short dash so it shows.
    pub fn line(&self, values: &[Option<f64>]) -> String {
        let mut d = String::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
            match run.as_slice() {
                [] => {}
                [(x, y)] => d.push_str(&format!("M{:.1} {:.1}h1.5", x - 0.75, y)),
                points => {
                    for (i, (x, y)) in points.iter().enumerate() {
                        d.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" }));
                    }
                }
            }
            run.clear();
        };
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => run.push((self.x(i), self.y(*v))),
                None => flush(&mut run, &mut d),
            }
        }
        flush(&mut run, &mut d);
        d
    }
}

/// A chart of lines over time with its axes, all as numbers and text.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// (CSS class, path data, legend), in drawing order.
    pub lines: Vec<(&'static str, String, &'static str)>,
    /// (y, label) of the horizontal grid lines.
    pub y_ticks: Vec<(f64, String)>,
    /// (x, label) under the plot.
    pub x_ticks: Vec<(f64, String)>,
    /// No point at all: the template says so instead.
    pub empty: bool,
}

impl LineChart {
    /// Lines for `series` (class, legend, values) over `labels` (one per
    /// point, a few of which are written under the axis), values in ms.
    pub fn new(
        width: f64,
        height: f64,
        labels: &[String],
        series: Vec<(&'static str, &'static str, Vec<Option<f64>>)>,
    ) -> Self {
        Self::with_unit(width, height, labels, series, |v| super::view::millis(Some(v)))
    }

    /// [`LineChart::new`] with the axis labels written by `unit`.
    pub fn with_unit(
        width: f64,
        height: f64,
        labels: &[String],
        series: Vec<(&'static str, &'static str, Vec<Option<f64>>)>,
        unit: fn(f64) -> String,
    ) -> Self {
        let scale = Scale::fit(width, height, series.iter().map(|(_, _, v)| v.as_slice()));
        let empty = series.iter().all(|(_, _, v)| v.iter().all(Option::is_none));
        let y_ticks = (0..=3)
            .map(|i| {
                let value = scale.max * f64::from(i) / 3.0;
                (scale.y(value), unit(value))
            })
            .collect();
        let count = labels.len();
        let x_ticks = if count == 0 {
            Vec::new()
        } else {
            let picks = [0, count / 3, 2 * count / 3, count - 1];
            let mut ticks: Vec<(f64, String)> = Vec::new();
            for i in picks {
                if ticks.last().map(|(x, _)| *x) != Some(scale.x(i)) {
                    ticks.push((scale.x(i), labels[i].clone()));
                }
            }
            ticks
        };
        let lines = series.into_iter().map(|(class, legend, values)| (class, scale.line(&values), legend)).collect();
        Self { lines, y_ticks, x_ticks, empty }
    }
}

/// One bar of a row of daily bars: where it sits and how it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    /// `up`, `degraded` (some downtime), `down` (under 95 %), `none` (no data).
    pub class: &'static str,
    /// What a reader hovering or focusing it is told.
    pub label: String,
}

/// Bars for `days` (date text, uptime) across `width`.
pub fn bars(days: &[(String, Option<f64>)], width: f64, bar: f64) -> Vec<Bar> {
    let step = if days.is_empty() { 0.0 } else { width / days.len() as f64 };
    days.iter()
        .enumerate()
        .map(|(i, (date, uptime))| {
            let class = match uptime {
                None => "none",
                Some(u) if *u >= 0.9995 => "up",
                Some(u) if *u >= 0.95 => "degraded",
                Some(_) => "down",
            };
            let label = match uptime {
                None => format!("{date}: no data"),
                Some(_) => format!("{date}: {} up", super::view::percent(*uptime)),
            };
            Bar { x: i as f64 * step + (step - bar) / 2.0, class, label }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_scale_into_the_box_and_break_at_gaps() {
        let values = [Some(0.0), Some(50.0), None, Some(100.0), Some(100.0)];
        let scale = Scale { width: 100.0, height: 20.0, max: 100.0, count: values.len() };
        assert_eq!(scale.line(&values), "M0.0 20.0L25.0 10.0M75.0 0.0L100.0 0.0");
        // A lone point between gaps is still drawn.
        assert_eq!(scale.line(&[None, Some(50.0), None]), "M24.2 10.0h1.5");
        assert_eq!(scale.line(&[None, None]), "");
        let fitted = Scale::fit(100.0, 20.0, [&values[..]]);
        assert!((fitted.max - 110.0).abs() < 1e-9);
        assert_eq!(Scale::fit(10.0, 10.0, [&[None][..]]).max, 1.0);
    }

    #[test]
    fn bars_say_their_day_and_uptime() {
        let day = |d: &str, u| (d.to_string(), u);
        let b = bars(&[day("2026-12-01", Some(1.0)), day("2026-12-02", None), day("2026-12-03", Some(0.5))], 30.0, 8.0);
        assert_eq!(b.iter().map(|b| b.class).collect::<Vec<_>>(), ["up", "none", "down"]);
        assert_eq!(b[1].label, "2026-12-02: no data");
        assert_eq!(b[2].label, "2026-12-03: 50.00 % up");
        assert_eq!(b[0].x, 1.0);
    }

    #[test]
    fn a_chart_has_axes_and_says_when_it_is_empty() {
        let labels: Vec<String> = (0..7).map(|i| format!("d{i}")).collect();
        let chart = LineChart::new(600.0, 100.0, &labels, vec![("avg", "average", vec![Some(10.0); 7])]);
        assert!(!chart.empty);
        assert_eq!(chart.y_ticks.len(), 4);
        assert_eq!(chart.y_ticks[0], (100.0, "0.0 ms".to_string()));
        assert_eq!(chart.x_ticks.first().map(|t| t.1.as_str()), Some("d0"));
        assert_eq!(chart.x_ticks.last().map(|t| t.1.as_str()), Some("d6"));
        let empty = LineChart::new(600.0, 100.0, &labels, vec![("avg", "average", vec![None; 7])]);
        assert!(empty.empty);
    }
}
