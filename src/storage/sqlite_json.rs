//! Many rows read from SQLite as one JSON document.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own and
//! hands every row of a result to the caller's task through a channel: a
//! read of a few hundred rows woke the caller (and a runtime worker) about
//! once per row. A query that aggregates its rows with `json_group_array`
//! hands over one value, decoded here with serde. Timestamps come back as
//! the text [`super::sqlite_time`] writes; booleans as SQLite's 0 and 1.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, de::Error as _};

use super::StorageError;

/// `json_object('a', a, 'b', b)` for a column list `a, b`: a row as an
/// object whose keys are the column names (the fields serde expects).
pub fn object(columns: &str) -> String {
    let pairs: Vec<String> = columns.split(',').map(str::trim).map(|c| format!("'{c}', {c}")).collect();
    format!("json_object({})", pairs.join(", "))
}

/// Decode a `json_group_array` of rows read by `operation`; `None` (NULL)
/// is no rows.
pub fn rows<T: for<'de> Deserialize<'de>>(
    operation: &'static str,
    document: Option<String>,
) -> Result<Vec<T>, StorageError> {
    match document {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            tracing::error!(operation, error = %e, "a JSON-aggregated SQLite read did not decode");
            StorageError::Other { operation }
        }),
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        // SQLite's own form, should a row carry one (`datetime('now')`).
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
    })
}

/// A timestamp in SQLite's text form.
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not a timestamp")))
}

/// A nullable timestamp in SQLite's text form.
pub fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => {
            parse_time(&text).map(Some).ok_or_else(|| D::Error::custom(format!("{text:?} is not a timestamp")))
        }
    }
}

/// SQLite's 0 / 1 (or a JSON boolean).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Int(i) => i != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Row {
        id: i64,
        #[serde(deserialize_with = "time")]
        at: DateTime<Utc>,
        #[serde(deserialize_with = "optional_time")]
        beat: Option<DateTime<Utc>>,
        #[serde(deserialize_with = "boolean")]
        flag: bool,
    }

    #[test]
    fn an_object_keys_each_column_by_its_name() {
        assert_eq!(object("id, kind,status"), "json_object('id', id, 'kind', kind, 'status', status)");
    }

    #[test]
    fn rows_decode_with_times_and_flags() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T10:00:00.123456Z").unwrap().with_timezone(&Utc);
        let text = format!(
            r#"[{{"id":1,"at":"{}","beat":null,"flag":1}},{{"id":2,"at":"2026-12-02 10:00:00.123456","beat":"{}","flag":0}}]"#,
            super::super::sqlite_time(at),
            super::super::sqlite_time(at)
        );
        let decoded: Vec<Row> = rows("test", Some(text)).unwrap();
        assert_eq!(
            decoded,
            [Row { id: 1, at, beat: None, flag: true }, Row { id: 2, at, beat: Some(at), flag: false }]
        );
        assert!(rows::<Row>("test", None).unwrap().is_empty());
        assert!(rows::<Row>("test", Some(r#"[{"id":1,"at":"yesterday","beat":null,"flag":0}]"#.into())).is_err());
    }
}
