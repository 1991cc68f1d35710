//! One-line sparklines for terminals.

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Values as block characters, at most `width` of them (each the maximum of its slot), scaled
/// between the lowest and highest of the values and the threshold.
pub fn sparkline(values: &[f64], threshold: Option<f64>, width: usize) -> String {
    cells(values, threshold, width)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// Like [`sparkline`], with cells at or above the threshold in bold red (ANSI SGR), for a
/// terminal that shows colours.
pub fn sparkline_ansi(values: &[f64], threshold: Option<f64>, width: usize) -> String {
    let mut out = String::new();
    let mut red = false;
    for (c, over) in cells(values, threshold, width) {
        if over != red {
            out.push_str(if over { "\x1b[1;31m" } else { "\x1b[0m" });
            red = over;
        }
        out.push(c);
    }
    if red {
        out.push_str("\x1b[0m");
    }
    out
}

fn cells(values: &[f64], threshold: Option<f64>, width: usize) -> Vec<(char, bool)> {
    let points: Vec<crate::Point> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&value| crate::Point { ts: 0, value })
        .collect();
    let slots = crate::downsample(&points, width.max(1));
    let range = slots.iter().map(|p| p.value).chain(threshold);
    let lo = range.clone().fold(f64::INFINITY, f64::min);
    let hi = range.fold(f64::NEG_INFINITY, f64::max);
    slots
        .iter()
        .map(|p| {
            let idx = if hi > lo {
                (((p.value - lo) / (hi - lo)) * 7.0).round() as usize
            } else {
                3
            };
            let over = threshold.is_some_and(|t| p.value >= t);
            (BLOCKS[idx.min(7)], over)
        })
        .collect()
}
