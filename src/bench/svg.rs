//! A latency percentile plot as a standalone SVG, in the manner of HdrHistogram's
//! plotter: the x axis is "percentile" on a log scale of 1/(1-p), so 90%, 99%, 99.9%...
//! are evenly spaced and the tail gets the room it deserves; y is latency in µs.

use std::fmt::Write as _;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 64.0;
/// The x axis ends at 99.999%: 1/(1-p) = 10^5.
const NINES_MAX: f64 = 5.0;
/// Horizontal grid lines wanted on the y axis (about).
const Y_TICKS: f64 = 5.0;

/// Position on the x axis in "nines": 0 for 0%, 1 for 90%, 2 for 99%, ... capped at 5.
pub fn nines(quantile: f64) -> f64 {
    let remaining = (1.0 - quantile).max(10f64.powf(-NINES_MAX));
    (-remaining.log10()).clamp(0.0, NINES_MAX)
}

/// A round step (1, 2, 2.5 or 5 times a power of ten) that cuts `0..max` into about
/// [`Y_TICKS`] parts.
pub fn nice_step(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let rough = max / Y_TICKS;
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn percent_label(nines: usize) -> String {
    match nines {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        n => format!("99.{}%", "9".repeat(n - 2)).replace(".%", "%"),
    }
}

/// The plot of `points` ((quantile, µs), quantile ascending) under `title`.
pub fn percentile_plot(points: &[(f64, f64)], title: &str) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let max_us = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let step = nice_step(max_us);
    let y_max = ((max_us / step).ceil() * step).max(step);
    let x_of = |quantile: f64| LEFT + nines(quantile) / NINES_MAX * plot_width;
    let y_of = |us: f64| TOP + plot_height - us / y_max * plot_height;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Vertical grid: one line per nine.
    for nine in 0..=NINES_MAX as usize {
        let x = LEFT + nine as f64 / NINES_MAX * plot_width;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + plot_height
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_height + 18.0,
            percent_label(nine)
        );
    }
    // Horizontal grid: round latencies.
    let mut tick = 0.0;
    while tick <= y_max + step / 2.0 {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_width
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            trim_number(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_width / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency (µs)</text>"#,
        TOP + plot_height / 2.0,
        TOP + plot_height / 2.0
    );
    let coordinates: Vec<String> = points
        .iter()
        .map(|(quantile, us)| format!("{:.1},{:.1}", x_of(*quantile), y_of(*us)))
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        coordinates.join(" ")
    );
    svg.push_str("</svg>\n");
    svg
}

/// `2.5` stays `2.5`, `200.0` becomes `200`.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_space_the_tail_evenly() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.9) - 1.0).abs() < 1e-9);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(nines(1.0), NINES_MAX);
        assert_eq!(nines(0.9999999), NINES_MAX);
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(12.0), 2.5);
        assert_eq!(nice_step(1234.0), 250.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn labels() {
        let labels: Vec<String> = (0..=5).map(percent_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(200.0), "200");
    }

    #[test]
    fn plot_is_one_polyline_inside_the_frame() {
        let points = [
            (0.0, 10.0),
            (0.5, 12.0),
            (0.9, 15.0),
            (0.99, 40.0),
            (1.0, 95.0),
        ];
        let svg = percentile_plot(&points, "pubsub <128 B> & more");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("pubsub &lt;128 B&gt; &amp; more"));
        assert!(svg.contains(">99.999%<"));
        assert!(svg.contains(">percentile<") && svg.contains(">latency (µs)<"));
        let polyline = svg
            .lines()
            .find(|line| line.starts_with("<polyline"))
            .unwrap();
        let inner = polyline
            .split("points=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches("\"/>");
        let xy: Vec<(f64, f64)> = inner
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(xy.len(), points.len());
        assert!(xy.windows(2).all(|w| w[0].0 <= w[1].0), "x ascends");
        assert!(
            xy.windows(2).all(|w| w[0].1 >= w[1].1),
            "y rises (smaller y is higher)"
        );
        for (x, y) in xy {
            assert!((LEFT..=WIDTH - RIGHT).contains(&x) && (TOP..=HEIGHT - BOTTOM).contains(&y));
        }
        // The y axis is rounded up to a whole step above the maximum (95 -> 100).
        assert!(svg.contains(">100<"), "{svg}");
    }

    #[test]
    fn empty_plot_still_renders() {
        let svg = percentile_plot(&[], "nothing");
        assert!(svg.contains("<polyline") && svg.contains("</svg>"));
    }
}
