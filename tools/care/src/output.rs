//! What the CLI prints: an aligned table (people), JSON or CSV (scripts). Everything that
//! came from the API or the queue has its control characters removed (or, in JSON,
//! escaped), so a requester's name cannot move the cursor or recolour an agent's terminal.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
    Csv,
}

/// `s` without control characters (C0, DEL, C1): tabs and line breaks become spaces.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Columns padded to their widest cell, a header first, two spaces between columns; an
/// empty cell shows as `-`.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| if c.is_empty() { "-".to_string() } else { clean(c) }).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = render(header.to_vec());
    for row in &rows {
        out.push_str(&render(row.iter().map(String::as_str).collect()));
    }
    out
}

/// One CSV field (RFC 4180), neutralised for spreadsheets: a cell starting with `=`, `+`,
/// `-`, `@`, tab or CR gets a leading `'` so it is never read as a formula.
pub fn csv_field(raw: &str) -> String {
    let s: String = raw.chars().filter(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n')).collect();
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A header row and the rows, CRLF line ends.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("{}\r\n", cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
    let mut out = line(header.iter().map(|h| h.to_ascii_lowercase()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Pretty JSON whose strings hold no raw control character (serde escapes C0; DEL and C1
/// are escaped here — they can only occur inside strings, so `\uXXXX` keeps it valid).
pub fn json(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.chars().map(|c| if c.is_control() && c != '\n' { format!("\\u{:04x}", c as u32) } else { c.to_string() }).collect()
}

/// Prints rows as the chosen output (JSON prints `value`, the typed answer).
pub fn print(
    out: &mut impl Write,
    output: Output,
    header: &[&str],
    rows: &[Vec<String>],
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    match output {
        Output::Table => write!(out, "{}", table(header, rows)),
        Output::Csv => write!(out, "{}", csv(header, rows)),
        Output::Json => writeln!(out, "{}", json(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_under_their_header() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["w".into(), "".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nw    -\n");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let evil = "ted\u{1b}[2J\u{9b}31m\u{7}@x.example\r\nnext";
        assert_eq!(clean(evil), "ted[2J31m@x.example  next");
        let t = table(&["WHO"], &[vec![evil.into()]]);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        let j = json(&serde_json::json!({"who": evil}));
        assert!(!j.chars().any(|c| c.is_control() && c != '\n'), "{j:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&j).unwrap()["who"], evil, "still the same value");
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        for (raw, want) in
            [("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("a,b", "\"a,b\""), ("plain", "plain")]
        {
            assert_eq!(csv_field(raw), want, "{raw:?}");
        }
        assert_eq!(csv(&["A", "B"], &[vec!["1".into(), "x".into()]]), "a,b\r\n1,x\r\n");
    }
}
