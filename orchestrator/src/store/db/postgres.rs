//! The PostgreSQL back end over `tokio-postgres`.
//!
//! The store's API is blocking and is called from async tasks (the scheduler's owner
//! task, HTTP handlers) as well as plain threads. The client's connection (the socket)
//! is driven by a small runtime of the store's own, on a thread of its own; a call
//! sends its request to that connection and waits on a channel with a plain executor.
//! So no call ever starts a runtime inside a runtime, and a caller's runtime, even a
//! single-threaded one, never has to drive the socket it is blocked on.

use super::{Row, Value, numbered_placeholders};
use crate::store::StoreError;
use bytes::BytesMut;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::sync::OnceLock;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

/// A session with the server: one client, its prepared statements, and the address
/// (without its password) that names it in errors.
pub(crate) struct PgDb {
    url: String,
    label: String,
    client: RefCell<Option<Client>>,
    statements: RefCell<HashMap<String, Statement>>,
    /// Inside `BEGIN`: a dropped connection is then an error, never a reconnect (the
    /// rest of the transaction would otherwise run, and commit, on its own).
    in_transaction: Cell<bool>,
}

/// The runtime that drives every PostgreSQL connection's socket.
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("bosun-postgres")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Unavailable {
            store: "postgres".into(),
            detail: format!("cannot start the client's runtime: {e}"),
        })
}

/// Wait for a client future: its work happens on the connection's runtime.
fn wait<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

impl PgDb {
    /// Connect to `url` (`postgres://user:password@host:port/database`).
    pub(crate) fn connect(url: &str, label: &str) -> Result<PgDb, StoreError> {
        let db = PgDb {
            url: url.to_string(),
            label: label.to_string(),
            client: RefCell::new(None),
            statements: RefCell::new(HashMap::new()),
            in_transaction: Cell::new(false),
        };
        db.reconnect()?;
        Ok(db)
    }

    pub(crate) fn err(&self, source: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres {
            store: self.label.clone(),
            source,
        }
    }

    fn reconnect(&self) -> Result<(), StoreError> {
        let runtime = runtime()?;
        let url = self.url.clone();
        let connecting = runtime.spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "run store: the PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| StoreError::Unavailable {
                store: self.label.clone(),
                detail: format!("the connection task failed: {e}"),
            })?
            .map_err(|e| self.err(e))?;
        self.statements.borrow_mut().clear();
        *self.client.borrow_mut() = Some(client);
        Ok(())
    }

    /// The client, connecting again first when the last connection dropped (a server
    /// restart): the next call after an outage works without restarting Bosun.
    fn client(&self) -> Result<std::cell::Ref<'_, Client>, StoreError> {
        let closed = self.client.borrow().as_ref().is_none_or(Client::is_closed);
        if closed && self.in_transaction.get() {
            return Err(StoreError::Unavailable {
                store: self.label.clone(),
                detail: "the connection dropped inside a transaction; none of it was committed"
                    .into(),
            });
        }
        if closed {
            self.reconnect()?;
        }
        std::cell::Ref::filter_map(self.client.borrow(), Option::as_ref).map_err(|_| {
            StoreError::Unavailable {
                store: self.label.clone(),
                detail: "no connection".into(),
            }
        })
    }

    /// A prepared statement for `sql` (written with `?N`), prepared once per session.
    fn statement(&self, client: &Client, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement =
            wait(client.prepare(&numbered_placeholders(sql))).map_err(|e| self.err(e))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let client = self.client()?;
        let statement = self.statement(&client, sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        wait(client.execute(&statement, &params)).map_err(|e| self.err(e))
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let statement = self.statement(&client, sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        let rows = wait(client.query(&statement, &params)).map_err(|e| self.err(e))?;
        rows.iter().map(|row| self.row(row)).collect()
    }

    /// Start a transaction (connecting again first if the connection dropped).
    pub(crate) fn begin(&self) -> Result<(), StoreError> {
        self.batch("BEGIN")?;
        self.in_transaction.set(true);
        Ok(())
    }

    /// Commit the transaction; on failure it is rolled back.
    pub(crate) fn commit(&self) -> Result<(), StoreError> {
        let outcome = self.batch("COMMIT");
        self.in_transaction.set(false);
        if outcome.is_err() {
            let _ = self.batch("ROLLBACK");
        }
        outcome
    }

    /// Roll the transaction back (nothing to do when the connection is gone: the
    /// server rolled it back).
    pub(crate) fn rollback(&self) {
        let _ = self.batch("ROLLBACK");
        self.in_transaction.set(false);
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        wait(client.batch_execute(sql)).map_err(|e| self.err(e))
    }

    fn row(&self, row: &tokio_postgres::Row) -> Result<Row, StoreError> {
        let mut values = Vec::with_capacity(row.len());
        for (index, column) in row.columns().iter().enumerate() {
            let err = |e| self.err(e);
            let ty = column.type_();
            let value = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(index)
                    .map_err(err)?
                    .map(Value::Int)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(index)
                    .map_err(err)?
                    .map(|v| Value::Int(v.into()))
            } else if *ty == Type::INT2 {
                row.try_get::<_, Option<i16>>(index)
                    .map_err(err)?
                    .map(|v| Value::Int(v.into()))
            } else if *ty == Type::BOOL {
                row.try_get::<_, Option<bool>>(index)
                    .map_err(err)?
                    .map(|v| Value::Int(v.into()))
            } else if *ty == Type::FLOAT8 {
                row.try_get::<_, Option<f64>>(index)
                    .map_err(err)?
                    .map(Value::Real)
            } else if *ty == Type::FLOAT4 {
                row.try_get::<_, Option<f32>>(index)
                    .map_err(err)?
                    .map(|v| Value::Real(v.into()))
            } else if *ty == Type::BYTEA {
                row.try_get::<_, Option<Vec<u8>>>(index)
                    .map_err(err)?
                    .map(Value::Blob)
            } else {
                // TEXT, VARCHAR, NAME and the like; anything else is a query to fix.
                row.try_get::<_, Option<String>>(index)
                    .map_err(err)?
                    .map(Value::Text)
            };
            values.push(value.unwrap_or(Value::Null));
        }
        Ok(Row(values))
    }
}

/// Values bind to whatever type the server inferred for the parameter, as SQLite's
/// dynamic typing would take them.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => {
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*v as f64).to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*v != 0).to_sql(ty, out)
                } else {
                    Err(format!("an integer given for a parameter of type {ty}").into())
                }
            }
            Value::Real(v) => v.to_sql(ty, out),
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `url` with its password replaced (in the user part or as a `password=` parameter),
/// for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{user}{hidden}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("postgres://bosun:s3cret@db:5432/bosun?sslmode=disable"),
            "postgres://bosun:***@db:5432/bosun?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://bosun@db/bosun"),
            "postgresql://bosun@db/bosun"
        );
        assert_eq!(
            redact("postgres://db/bosun?user=bosun&password=s3cret"),
            "postgres://db/bosun?user=bosun&password=***"
        );
    }
}
