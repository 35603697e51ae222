//! Output: every line goes through `std::io::Write` so a closed pipe or a full disk is an
//! error the command returns (never a panic), and tables that fit the terminal.

use comfy_table::{
    Cell, ColumnConstraint, ContentArrangement, Row, Table, presets::UTF8_FULL_CONDENSED,
};
use std::io::IsTerminal;

/// `outln!(…)`: `println!` that returns the write error instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

/// Prints a value as pretty JSON on standard output.
pub fn json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// How wide tables may be when standard output is not a terminal (on a terminal the
/// table measures it): `COLUMNS`, else 80.
fn pipe_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(80)
}

/// A table with these headers. Not `wide`: at most the terminal's width (80 columns in
/// a pipe), each row on one line, cells cut with `…` rather than wrapped. `wide`: every
/// cell in full.
pub fn table(headers: &[&str], wide: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if wide {
        t.set_content_arrangement(ContentArrangement::Disabled);
    } else {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_truncation_indicator("…");
        if !std::io::stdout().is_terminal() {
            t.set_width(pipe_width());
        }
    }
    t.set_header(headers.iter().map(|h| Cell::new(*h)));
    t
}

/// Keeps these columns at their content's width (ids, dates): others shrink first.
pub fn keep_whole(t: &mut Table, columns: &[usize]) {
    for &c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

/// A subject kind in few letters (tables only; JSON keeps the full names).
pub fn short_kind(kind: &str) -> &str {
    match kind {
        "external_contact" => "contact",
        "dialer_contact" => "dialer",
        other => other,
    }
}

/// Adds a row (one line high unless the table is wide).
pub fn row(t: &mut Table, cells: Vec<String>, wide: bool) {
    let mut r = Row::from(cells);
    if !wide {
        r.max_height(1);
    }
    t.add_row(r);
}

/// `s` when `n` is not one.
pub fn plural(n: impl Into<u64>) -> &'static str {
    if n.into() == 1 { "" } else { "s" }
}

/// `first` then `text`, wrapped between words at 80 columns, continuation lines indented
/// by `indent` spaces (a word longer than the line is kept whole).
pub fn wrap(first: &str, text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    for word in text.split_whitespace() {
        let fresh = line.trim().is_empty() || line == first;
        if !fresh && line.chars().count() + 1 + word.chars().count() > 80 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
        } else if !line.is_empty() && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out
}
