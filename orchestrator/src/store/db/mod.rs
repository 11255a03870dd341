//! One way to run the store's SQL on either back end: values and rows that do not
//! depend on the driver, and `Db`, a connection (or the transaction on it) of SQLite or
//! PostgreSQL. Statements are written once, with SQLite's `?N` placeholders; the
//! PostgreSQL side rewrites them to `$N`. Where the dialects differ, the caller asks
//! [`Db::dialect`].

pub(super) mod postgres;
pub(super) mod sqlite;

use super::StoreError;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (`INTEGER` in SQLite, `BIGINT` in PostgreSQL).
    Int(i64),
    /// A float.
    Real(f64),
    /// A UTF-8 string (TEXT in both back ends).
    Text(String),
    /// Raw bytes (BLOB in SQLite, BYTEA in PostgreSQL).
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    /// Milliseconds and sizes: stored as signed 64-bit, as SQLite and PostgreSQL hold them.
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Bind values: `vals![a, b]` is `&[Value::from(a), Value::from(b)]`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::db::Value::from($v)),*][..]
    };
}
pub(crate) use vals;

/// One result row, by column position.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::column(index, "a column the query does not have"))
    }

    /// An integer column that may be NULL.
    pub(crate) fn opt_i64(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.at(index)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Real(v) => Ok(Some(*v as i64)),
            other => Err(StoreError::column(
                index,
                format!("not an integer: {other:?}"),
            )),
        }
    }

    /// An integer column.
    pub(crate) fn i64(&self, index: usize) -> Result<i64, StoreError> {
        self.opt_i64(index)?
            .ok_or_else(|| StoreError::column(index, "NULL where an integer belongs"))
    }

    /// A non-negative integer column (times, sizes, counts); negatives read as 0.
    pub(crate) fn u64(&self, index: usize) -> Result<u64, StoreError> {
        Ok(self.i64(index)?.max(0) as u64)
    }

    /// A non-negative integer column that may be NULL.
    pub(crate) fn opt_u64(&self, index: usize) -> Result<Option<u64>, StoreError> {
        Ok(self.opt_i64(index)?.map(|v| v.max(0) as u64))
    }

    /// A small counter column (attempt numbers, deliveries).
    pub(crate) fn u32(&self, index: usize) -> Result<u32, StoreError> {
        let v = self.i64(index)?;
        u32::try_from(v).map_err(|_| StoreError::column(index, format!("{v} is out of range")))
    }

    /// A small counter column that may be NULL.
    pub(crate) fn opt_u32(&self, index: usize) -> Result<Option<u32>, StoreError> {
        self.opt_i64(index)?
            .map(|v| {
                u32::try_from(v)
                    .map_err(|_| StoreError::column(index, format!("{v} is out of range")))
            })
            .transpose()
    }

    /// A float column that may be NULL.
    pub(crate) fn opt_f64(&self, index: usize) -> Result<Option<f64>, StoreError> {
        match self.at(index)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v as f64)),
            Value::Real(v) => Ok(Some(*v)),
            other => Err(StoreError::column(
                index,
                format!("not a number: {other:?}"),
            )),
        }
    }

    /// A truth value (SQLite answers 0/1, PostgreSQL a boolean; both arrive as integers).
    pub(crate) fn bool(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.i64(index)? != 0)
    }

    /// A text column that may be NULL.
    pub(crate) fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.at(index)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(StoreError::column(index, format!("not text: {other:?}"))),
        }
    }

    /// A text column.
    pub(crate) fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?
            .ok_or_else(|| StoreError::column(index, "NULL where text belongs"))
    }

    /// A bytes column.
    pub(crate) fn blob(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.at(index)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(StoreError::column(index, format!("not bytes: {other:?}"))),
        }
    }
}

/// Which SQL the connection speaks, for the few statements written twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL 13 or newer.
    Postgres,
}

/// A connection, or the open transaction on it: where a statement runs.
#[derive(Clone, Copy)]
pub(crate) enum Db<'a> {
    /// A SQLite connection (a transaction derefs to one).
    Sqlite(&'a sqlite::SqliteDb),
    /// A PostgreSQL session (inside `BEGIN` when a writer holds it).
    Postgres(&'a postgres::PgDb),
}

impl Db<'_> {
    /// The dialect of the back end.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run a statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite(db) => db.execute(sql, params),
            Db::Postgres(db) => db.execute(sql, params),
        }
    }

    /// Run a query; every row.
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Db::Sqlite(db) => db.query(sql, params),
            Db::Postgres(db) => db.query(sql, params),
        }
    }

    /// Run a query; its first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Run a query that answers exactly one row (an aggregate).
    pub(crate) fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::column(0, "a query that always answers a row answered none"))
    }

    /// Run several statements with no parameters (migrations).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(db) => db.batch(sql),
            Db::Postgres(db) => db.batch(sql),
        }
    }
}

/// Rewrite SQLite's numbered placeholders (`?1`) to PostgreSQL's (`$1`). The store's
/// statements hold no `?` inside string literals, so a plain scan is exact.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_postgres() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE x = ?1 AND (?12 IS NULL) AND y = '?'"),
            "SELECT a FROM t WHERE x = $1 AND ($12 IS NULL) AND y = '?'"
        );
    }
}
