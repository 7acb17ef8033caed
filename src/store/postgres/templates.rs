//! Template versions on PostgreSQL: a new version's number is taken under an advisory lock
//! on the template (two saves on two instances get distinct numbers); every publish or
//! unpublish takes the next value of the `template_generation` sequence, which instances
//! poll to reload.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::unavailable;
use super::{PgStore, advisory_lock, json_from_sql, json_to_sql, time_from_sql, time_to_sql};
use crate::store::StoreError;
use crate::templates::versions::{Parts, Publication, TemplateKey, TemplateStore, TemplateVersion};

const VERSION_COLUMNS: &str = "channel, locale, name, version, parts, author, message, created_at";

fn version_number(value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("template version {value}")))
}

fn version_to_sql(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

fn version_from_row(row: &PgRow) -> Result<TemplateVersion, StoreError> {
    let parts: String = row.try_get(4).map_err(unavailable)?;
    Ok(TemplateVersion {
        key: TemplateKey {
            channel: row.try_get(0).map_err(unavailable)?,
            locale: row.try_get(1).map_err(unavailable)?,
            name: row.try_get(2).map_err(unavailable)?,
        },
        version: version_number(row.try_get(3).map_err(unavailable)?)?,
        parts: json_from_sql(&parts)?,
        author: row.try_get(5).map_err(unavailable)?,
        message: row.try_get(6).map_err(unavailable)?,
        created_at: time_from_sql(row.try_get(7).map_err(unavailable)?),
    })
}

#[async_trait::async_trait]
impl TemplateStore for PgStore {
    async fn add_template_version(
        &self,
        key: &TemplateKey,
        parts: &Parts,
        author: &str,
        message: &str,
    ) -> Result<TemplateVersion, StoreError> {
        let mut version = TemplateVersion {
            key: key.clone(),
            version: 0,
            parts: parts.clone(),
            author: author.to_owned(),
            message: message.to_owned(),
            created_at: chrono::Utc::now(),
        };
        let mut tx = self.begin().await?;
        advisory_lock(&mut tx, &format!("template\n{}", key.path())).await?;
        let latest: Option<i32> = sqlx::query_scalar(
            "SELECT max(version) FROM template_versions \
             WHERE channel = $1 AND locale = $2 AND name = $3",
        )
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        version.version = version_number(latest.unwrap_or(0))?.saturating_add(1);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO template_versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .bind(version_to_sql(version.version))
        .bind(json_to_sql(&version.parts)?)
        .bind(&version.author)
        .bind(&version.message)
        .bind(time_to_sql(version.created_at)?)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(version)
    }

    async fn template_versions(
        &self,
        key: &TemplateKey,
    ) -> Result<Vec<TemplateVersion>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM template_versions \
             WHERE channel = $1 AND locale = $2 AND name = $3 ORDER BY version"
        )))
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(version_from_row).collect()
    }

    async fn template_version(
        &self,
        key: &TemplateKey,
        version: u32,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM template_versions \
             WHERE channel = $1 AND locale = $2 AND name = $3 AND version = $4"
        )))
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .bind(version_to_sql(version))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn publish_template(
        &self,
        key: &TemplateKey,
        version: u32,
        by: &str,
    ) -> Result<Option<Publication>, StoreError> {
        let publication = Publication {
            key: key.clone(),
            version,
            published_at: chrono::Utc::now(),
            published_by: by.to_owned(),
        };
        let changed = sqlx::query(
            "INSERT INTO template_published \
             (channel, locale, name, version, published_at, published_by, generation) \
             SELECT $1, $2, $3, $4, $5, $6, nextval('template_generation') \
             WHERE EXISTS (SELECT 1 FROM template_versions \
                           WHERE channel = $1 AND locale = $2 AND name = $3 AND version = $4) \
             ON CONFLICT (channel, locale, name) DO UPDATE SET \
             version = excluded.version, published_at = excluded.published_at, \
             published_by = excluded.published_by, generation = excluded.generation",
        )
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .bind(version_to_sql(version))
        .bind(time_to_sql(publication.published_at)?)
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok((changed > 0).then_some(publication))
    }

    async fn unpublish_template(&self, key: &TemplateKey, by: &str) -> Result<bool, StoreError> {
        // Version 0 stands for the file: the row stays and takes a new generation, so every
        // instance reloads.
        let changed = sqlx::query(
            "UPDATE template_published SET version = 0, published_at = $4, published_by = $5, \
             generation = nextval('template_generation') \
             WHERE channel = $1 AND locale = $2 AND name = $3 AND version <> 0",
        )
        .bind(&key.channel)
        .bind(&key.locale)
        .bind(&key.name)
        .bind(time_to_sql(chrono::Utc::now())?)
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn stored_templates(
        &self,
    ) -> Result<Vec<(TemplateKey, Option<Publication>, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.channel, v.locale, v.name, max(v.version), \
             p.version, p.published_at, p.published_by \
             FROM template_versions v LEFT JOIN template_published p \
             ON p.channel = v.channel AND p.locale = v.locale AND p.name = v.name \
             GROUP BY v.channel, v.locale, v.name, p.version, p.published_at, p.published_by \
             ORDER BY v.channel, v.locale, v.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let key = TemplateKey {
                    channel: row.try_get(0).map_err(unavailable)?,
                    locale: row.try_get(1).map_err(unavailable)?,
                    name: row.try_get(2).map_err(unavailable)?,
                };
                let latest = version_number(row.try_get(3).map_err(unavailable)?)?;
                let published: Option<i32> = row.try_get(4).map_err(unavailable)?;
                let at: Option<i64> = row.try_get(5).map_err(unavailable)?;
                let by: Option<String> = row.try_get(6).map_err(unavailable)?;
                let publication = match (published, at, by) {
                    // Version 0: unpublished, the file is live.
                    (Some(version), Some(at), Some(by)) if version > 0 => Some(Publication {
                        key: key.clone(),
                        version: version_number(version)?,
                        published_at: time_from_sql(at),
                        published_by: by,
                    }),
                    _ => None,
                };
                Ok((key, publication, latest))
            })
            .collect()
    }

    async fn published_templates(&self) -> Result<Vec<TemplateVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.channel, v.locale, v.name, v.version, v.parts, v.author, v.message, \
             v.created_at FROM template_published p JOIN template_versions v \
             ON v.channel = p.channel AND v.locale = p.locale AND v.name = p.name \
             AND v.version = p.version ORDER BY v.channel, v.locale, v.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(version_from_row).collect()
    }

    async fn templates_generation(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(generation), 0)::BIGINT FROM template_published")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)
    }
}
