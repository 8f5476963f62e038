//! Output as az prints it: JSON by default, or a table, tab-separated values or nothing (`--output`), after an
//! optional JMESPath `--query`.

use clap::ValueEnum;
use serde_json::Value;

use super::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
    Tsv,
    None,
}

/// Fields left out of tables (unless nothing else is left).
const HIDDEN_IN_TABLES: &[&str] = &["id", "type", "etag"];

/// Columns shown first in a table, when present; the others follow in name order.
const FIRST_COLUMNS: &[&str] = &["name", "kid", "location", "kind", "resourceGroup", "enabled", "status"];

pub fn render(value: &Value, format: Format, query: Option<&str>) -> Result<String, CliError> {
    let value = match query {
        Some(query) => apply_query(value, query)?,
        None => value.clone(),
    };
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default()),
        Format::Table => table(&value),
        Format::Tsv => tsv(&value),
        Format::None => String::new(),
    })
}

fn apply_query(value: &Value, query: &str) -> Result<Value, CliError> {
    let expression = jmespath::compile(query).map_err(|e| {
        // The parser's message spans lines (the expression, a caret); its first line says what is wrong.
        let reason = e.to_string();
        let reason = reason.lines().next().unwrap_or_default().to_owned();
        CliError::Usage(format!("argument --query: invalid JMESPath query '{query}': {reason}"))
    })?;
    let data = jmespath::Variable::from_json(&value.to_string())
        .map_err(|e| CliError::Local(format!("cannot query the answer: {e}")))?;
    let result = expression
        .search(data)
        .map_err(|e| CliError::Usage(format!("argument --query: {e}")))?;
    serde_json::to_value(&*result).map_err(|e| CliError::Local(format!("cannot query the answer: {e}")))
}

fn rows(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// The columns of a table: the scalar fields of the first row (objects with a `name` of a nested `sku`, such
/// as `sku.name`, show it too).
fn columns(first: &Value) -> Vec<String> {
    let Value::Object(map) = first else {
        return vec![String::new()];
    };
    let mut names: Vec<String> = map
        .iter()
        .filter(|(_, v)| scalar(v).is_some())
        .map(|(k, _)| k.clone())
        .collect();
    // As az does, long identifiers stay out of tables that have other columns; --query brings them back.
    if names.iter().any(|n| !HIDDEN_IN_TABLES.contains(&n.as_str())) {
        names.retain(|n| !HIDDEN_IN_TABLES.contains(&n.as_str()));
    }
    names.sort_by_key(|n| {
        (
            FIRST_COLUMNS.iter().position(|f| f == n).unwrap_or(usize::MAX),
            n.clone(),
        )
    });
    names
}

fn cells(row: &Value, columns: &[String]) -> Vec<String> {
    match row {
        Value::Object(map) => columns
            .iter()
            .map(|c| map.get(c).and_then(scalar).unwrap_or_default())
            .collect(),
        other => vec![scalar(other).unwrap_or_else(|| other.to_string())],
    }
}

fn heading(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Result".into(),
    }
}

fn table(value: &Value) -> String {
    let rows = rows(value);
    let Some(first) = rows.first() else {
        return String::new();
    };
    let columns = columns(first);
    let headings: Vec<String> = columns.iter().map(|c| heading(c)).collect();
    let body: Vec<Vec<String>> = rows.iter().map(|r| cells(r, &columns)).collect();
    let widths: Vec<usize> = (0..headings.len())
        .map(|i| {
            body.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain(std::iter::once(headings[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&headings);
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in &body {
        out.push_str(&line(row));
    }
    out
}

fn tsv(value: &Value) -> String {
    let rows = rows(value);
    let Some(first) = rows.first() else {
        return String::new();
    };
    let columns = columns(first);
    rows.iter()
        .map(|r| format!("{}\n", cells(r, &columns).join("\t")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_put_the_name_first_and_skip_nested_values() {
        let value = json!([
            {"location": "westus2", "name": "rg1", "properties": {"x": 1}},
            {"location": "eastus", "name": "rg-two", "properties": {"x": 2}}
        ]);
        let out = render(&value, Format::Table, None).unwrap_or_default();
        assert_eq!(
            out,
            "Name    Location\n------  --------\nrg1     westus2\nrg-two  eastus\n"
        );
        let tsv = render(&value, Format::Tsv, None).unwrap_or_default();
        assert_eq!(tsv, "rg1\twestus2\nrg-two\teastus\n");
    }

    #[test]
    fn queries_select_before_formatting() {
        let value = json!({"properties": {"endpoint": "https://a/"}, "name": "a"});
        let out = render(&value, Format::Tsv, Some("properties.endpoint")).unwrap_or_default();
        assert_eq!(out, "https://a/\n");
        assert!(matches!(
            render(&value, Format::Json, Some("[")),
            Err(CliError::Usage(_))
        ));
        assert_eq!(render(&value, Format::None, None).unwrap_or_default(), "");
    }
}
