//! Tables in alerts: a header and rows of text, rendered fixed-width (Slack code blocks, plain
//! text mail, webhooks) or as HTML (mail).

/// A table of text cells. Every row has the header's width: a longer row is cut, a shorter one
/// padded with empty cells. Line breaks and tabs in cells become spaces, so each row is one line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cell(text: impl Into<String>) -> String {
    text.into().replace(['\n', '\r', '\t'], " ")
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table { header: header.into_iter().map(cell).collect(), rows: Vec::new() }
    }

    /// Add a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let mut row: Vec<String> = cells.into_iter().take(self.header.len()).map(cell).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
        self
    }

    /// How many rows (without the header).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The lines of the fixed-width rendering: the header, a rule, then one line per row;
    /// columns padded to their widest cell (in characters) and two spaces apart.
    pub fn lines(&self) -> Vec<String> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(c);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(w - c.chars().count()));
                }
            }
            out.trim_end().to_owned()
        };
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut lines = vec![line(&self.header), line(&rule)];
        lines.extend(self.rows.iter().map(|r| line(r)));
        lines
    }

    /// The fixed-width rendering, one line per row, each ending in a line break.
    pub fn to_text(&self) -> String {
        self.lines().into_iter().map(|l| l + "\n").collect()
    }

    /// An HTML `<table>` with a `<thead>` row, cells escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><thead><tr>");
        for h in &self.header {
            out.push_str(&format!("<th>{}</th>", escape_html(h)));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &self.rows {
            out.push_str("<tr>");
            for c in row {
                out.push_str(&format!("<td>{}</td>", escape_html(c)));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        out
    }
}

/// `text` with `& < > " '` escaped for HTML.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
