//! CLI output: aligned tables by default, the API's JSON with `--json`.

use std::fmt::Write as _;

use serde_json::Value;

/// Output mode.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON instead of tables.
    pub json: bool,
}

/// Renders a JSON scalar for a table cell.
#[must_use]
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// An aligned table: header row, then one row per item.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(headers.iter().map(|h| (*h).to_owned()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

impl Output {
    /// Prints `items` (objects) as a table of `columns` (header, JSON key), or as JSON.
    pub fn list(self, raw: &Value, items: &[Value], columns: &[(&str, &str)]) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(raw).expect("JSON prints")
            );
            return;
        }
        let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|it| columns.iter().map(|(_, k)| cell(&it[*k])).collect())
            .collect();
        print!("{}", table(&headers, &rows));
    }

    /// Prints one object as `key  value` lines, or as JSON.
    pub fn object(self, v: &Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).expect("JSON prints"));
            return;
        }
        if let Value::Object(m) = v {
            let rows: Vec<Vec<String>> = m
                .iter()
                .filter(|(k, _)| k.as_str() != "RequestId")
                .map(|(k, x)| vec![k.clone(), cell(x)])
                .collect();
            print!("{}", table(&["FIELD", "VALUE"], &rows));
        }
    }

    /// Prints the outcome of a change.
    pub fn done(self, v: &Value, what: &str) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).expect("JSON prints"));
        } else {
            println!("{what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["ID", "STATE"],
            &[
                vec!["ep-1".into(), "Connected".into()],
                vec!["ep-12345".into(), "Wait".into()],
            ],
        );
        assert_eq!(t, "ID        STATE\nep-1      Connected\nep-12345  Wait\n");
    }

    #[test]
    fn cells_render_scalars() {
        assert_eq!(cell(&serde_json::json!(null)), "-");
        assert_eq!(cell(&serde_json::json!("")), "-");
        assert_eq!(cell(&serde_json::json!(true)), "true");
        assert_eq!(cell(&serde_json::json!(["a", "b"])), "a,b");
    }
}
