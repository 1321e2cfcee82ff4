//! `Ts`: a timestamp as each backend stores it. PostgreSQL gets a native
//! `timestamptz`; SQLite gets fixed-width RFC 3339 UTC text so that text
//! order is time order (sqlx's own SQLite encoding varies the number of
//! fraction digits, which breaks `<` between stored values).
//! Decoding needs no wrapper: sqlx reads both forms into `DateTime<Utc>`.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

/// Bind a timestamp with `.bind(Ts(t))`.
#[derive(Debug, Clone, Copy)]
pub struct Ts(pub DateTime<Utc>);

/// The SQLite text form: `2026-01-01T00:00:00.000000Z`.
pub fn sqlite_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Type<Sqlite> for Ts {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(sqlite_time(self.0), buf)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'_>) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// A timestamp stored compactly: on SQLite as integer microseconds since
/// the Unix epoch (7 bytes instead of 27 of text, in every index that
/// holds it — used where rows are many, like check results); on PostgreSQL
/// as `timestamptz`, which is already 8 bytes. Binds and decodes alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Micros(pub DateTime<Utc>);

impl Type<Sqlite> for Micros {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Micros {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.0.timestamp_micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Micros {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<'r, Sqlite>>::decode(value)?;
        DateTime::from_timestamp_micros(micros).map(Micros).ok_or_else(|| "timestamp out of range".into())
    }
}

impl Type<Postgres> for Micros {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Micros {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'_>) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Micros {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_is_fixed_width_and_sortable() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let b = a + chrono::Duration::microseconds(500_000);
        assert_eq!(sqlite_time(a), "2026-01-01T00:00:00.000000Z");
        assert!(sqlite_time(a) < sqlite_time(b));
        assert_eq!(sqlite_time(a).len(), sqlite_time(b).len());
    }
}
