//! A throw-away PostgreSQL database for tests: created fresh on a real server, dropped (with
//! its connections) when the value is dropped, so tests never share state.
//!
//! The server is the machine's local one (`postgres://postgres@127.0.0.1:5432`, trust auth:
//! Debian's `postgresql` package as the CI machine runs it), or the admin URL in
//! `OMNIBRIDGE_TEST_POSTGRES`. Fails loudly (never skips) when no server answers.

use std::process::{Command, Stdio};

/// The admin connection (`host`, `port`, `user`) from `OMNIBRIDGE_TEST_POSTGRES` or the
/// local default.
fn admin() -> (String, String, String) {
    let url = std::env::var("OMNIBRIDGE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or_else(|| panic!("OMNIBRIDGE_TEST_POSTGRES must be a postgres:// URL"));
    let rest = rest.split('/').next().unwrap_or(rest);
    let (user, host_port) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    (host.to_owned(), port.to_owned(), user.to_owned())
}

/// Runs one SQL statement as the admin user on `database`; answers what it printed
/// (unaligned, tuples only).
fn psql(database: &str, sql: &str) -> Result<String, String> {
    let (host, port, user) = admin();
    let output = Command::new("psql")
        .args(["-h", &host, "-p", &port, "-U", &user, "-d", database])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql (install postgresql-client): {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn admin_sql(sql: &str) -> Result<String, String> {
    psql("postgres", sql)
}

/// A fresh database, dropped with everything in it when this is dropped.
pub(crate) struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// Creates a database with a unique name.
    ///
    /// # Panics
    /// When no PostgreSQL server answers at the admin URL.
    pub(crate) fn create() -> Self {
        let name = format!(
            "omnibridge_test_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        if let Err(error) = admin_sql(&format!("CREATE DATABASE {name}")) {
            panic!(
                "cannot create a test database: {error}\nThese tests need a PostgreSQL server: \
                 the local one on 127.0.0.1:5432 with trust auth for `postgres`, or set \
                 OMNIBRIDGE_TEST_POSTGRES=postgres://user@host:port"
            );
        }
        Self { name }
    }

    /// The database's URL, for `storage.state`.
    pub(crate) fn url(&self) -> String {
        let (host, port, user) = admin();
        format!("postgres://{user}@{host}:{port}/{}", self.name)
    }

    /// The database's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The first column of the first row `sql` answers, as text; `None` for no row or an
    /// error.
    pub(crate) fn query_text(&self, sql: &str) -> Option<String> {
        psql(&self.name, sql)
            .ok()
            .and_then(|out| out.lines().next().map(str::to_owned))
            .filter(|line| !line.is_empty())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(error) = admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}
