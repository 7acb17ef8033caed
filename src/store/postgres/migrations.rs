//! The PostgreSQL schema's versioned migrations, embedded in the binary and applied by
//! sqlx's migrator (its table `_sqlx_migrations` records what ran, with checksums; an
//! advisory lock lets one instance migrate at a time).

use std::borrow::Cow;

use sqlx::PgPool;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::StoreError;

/// Every migration, oldest first: (version, description, SQL). Never edit one that shipped;
/// add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "state", include_str!("migrations/0001_state.sql"))];

/// The migrator of this build's schema.
pub fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect(),
    )
}

/// Applies what the database lacks; answers how many migrations ran.
pub(super) async fn apply(pool: &PgPool) -> Result<usize, StoreError> {
    let before = applied(pool).await?;
    migrator()
        .run(pool)
        .await
        .map_err(|error| StoreError::Unavailable(format!("migrating: {error}")))?;
    let after = applied(pool).await?;
    for version in after.iter().filter(|v| !before.contains(v)) {
        tracing::info!(version, "postgres schema migrated");
    }
    Ok(after.len().saturating_sub(before.len()))
}

/// Versions recorded as applied (none before the first run).
async fn applied(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(super::unavailable)?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(super::unavailable)
}
