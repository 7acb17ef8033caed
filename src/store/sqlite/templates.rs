//! Template versions on SQLite: `template_versions` (every saved version) and
//! `template_published` (the live version of each template, with a generation number that
//! grows with every publication, so instances notice a change with one cheap query).

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, json_from_sql, json_to_sql, time_from_sql, time_to_sql};
use crate::sqlite::DbError;
use crate::store::StoreError;
use crate::templates::versions::{Parts, Publication, TemplateKey, TemplateStore, TemplateVersion};

const VERSION_COLUMNS: &str = "channel, locale, name, version, parts, author, message, created_at";

type VersionRow = (String, String, String, u32, String, String, String, i64);

fn version_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn version_from_row(row: VersionRow) -> Result<TemplateVersion, DbError> {
    let (channel, locale, name, version, parts, author, message, created) = row;
    Ok(TemplateVersion {
        key: TemplateKey {
            channel,
            locale,
            name,
        },
        version,
        parts: json_from_sql(&parts)?,
        author,
        message,
        created_at: time_from_sql(created),
    })
}

#[async_trait::async_trait]
impl TemplateStore for SqliteStore {
    async fn add_template_version(
        &self,
        key: &TemplateKey,
        parts: &Parts,
        author: &str,
        message: &str,
    ) -> Result<TemplateVersion, StoreError> {
        let version = TemplateVersion {
            key: key.clone(),
            version: 0,
            parts: parts.clone(),
            author: author.to_owned(),
            message: message.to_owned(),
            created_at: chrono::Utc::now(),
        };
        Ok(self
            .database()
            .write(move |conn| {
                let mut version = version;
                let key = &version.key;
                let latest: Option<u32> = conn
                    .prepare_cached(
                        "SELECT max(version) FROM template_versions \
                         WHERE channel = ?1 AND locale = ?2 AND name = ?3",
                    )?
                    .query_row(params![key.channel, key.locale, key.name], |r| r.get(0))?;
                version.version = latest.unwrap_or(0) + 1;
                conn.prepare_cached(&format!(
                    "INSERT INTO template_versions ({VERSION_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?
                .execute(params![
                    key.channel,
                    key.locale,
                    key.name,
                    version.version,
                    json_to_sql(&version.parts)?,
                    version.author,
                    version.message,
                    time_to_sql(version.created_at)?,
                ])?;
                Ok(version)
            })
            .await?)
    }

    async fn template_versions(
        &self,
        key: &TemplateKey,
    ) -> Result<Vec<TemplateVersion>, StoreError> {
        let key = key.clone();
        Ok(self
            .database()
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLUMNS} FROM template_versions \
                         WHERE channel = ?1 AND locale = ?2 AND name = ?3 ORDER BY version"
                    ))?
                    .query_map(params![key.channel, key.locale, key.name], version_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(version_from_row).collect()
            })
            .await?)
    }

    async fn template_version(
        &self,
        key: &TemplateKey,
        version: u32,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        let key = key.clone();
        Ok(self
            .database()
            .read(move |conn| {
                let row = conn
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLUMNS} FROM template_versions \
                         WHERE channel = ?1 AND locale = ?2 AND name = ?3 AND version = ?4"
                    ))?
                    .query_row(
                        params![key.channel, key.locale, key.name, version],
                        version_row,
                    )
                    .optional()?;
                row.map(version_from_row).transpose()
            })
            .await?)
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
        Ok(self
            .database()
            .write(move |conn| {
                let key = &publication.key;
                let exists: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM template_versions \
                         WHERE channel = ?1 AND locale = ?2 AND name = ?3 AND version = ?4)",
                    )?
                    .query_row(
                        params![key.channel, key.locale, key.name, publication.version],
                        |r| r.get(0),
                    )?;
                if !exists {
                    return Ok(None);
                }
                let generation: i64 = conn
                    .prepare_cached("SELECT coalesce(max(generation), 0) FROM template_published")?
                    .query_row([], |r| r.get(0))?;
                conn.prepare_cached(
                    "INSERT INTO template_published \
                     (channel, locale, name, version, published_at, published_by, generation) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (channel, locale, name) DO UPDATE SET \
                     version = excluded.version, published_at = excluded.published_at, \
                     published_by = excluded.published_by, generation = excluded.generation",
                )?
                .execute(params![
                    key.channel,
                    key.locale,
                    key.name,
                    publication.version,
                    time_to_sql(publication.published_at)?,
                    publication.published_by,
                    generation + 1,
                ])?;
                Ok(Some(publication))
            })
            .await?)
    }

    async fn unpublish_template(&self, key: &TemplateKey, by: &str) -> Result<bool, StoreError> {
        let key = key.clone();
        let by = by.to_owned();
        let at = time_to_sql(chrono::Utc::now())?;
        Ok(self
            .database()
            .write(move |conn| {
                // Version 0 stands for the file: the row stays, so the generation (the
                // highest of all rows) still moves and every instance reloads.
                let generation: i64 = conn
                    .prepare_cached("SELECT coalesce(max(generation), 0) FROM template_published")?
                    .query_row([], |r| r.get(0))?;
                let changed = conn
                    .prepare_cached(
                        "UPDATE template_published SET version = 0, published_at = ?4, \
                         published_by = ?5, generation = ?6 \
                         WHERE channel = ?1 AND locale = ?2 AND name = ?3 AND version <> 0",
                    )?
                    .execute(params![
                        key.channel,
                        key.locale,
                        key.name,
                        at,
                        by,
                        generation + 1
                    ])?;
                Ok(changed > 0)
            })
            .await?)
    }

    async fn stored_templates(
        &self,
    ) -> Result<Vec<(TemplateKey, Option<Publication>, u32)>, StoreError> {
        Ok(self
            .database()
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT v.channel, v.locale, v.name, max(v.version), \
                         p.version, p.published_at, p.published_by \
                         FROM template_versions v LEFT JOIN template_published p \
                         ON p.channel = v.channel AND p.locale = v.locale AND p.name = v.name \
                         GROUP BY v.channel, v.locale, v.name ORDER BY v.channel, v.locale, v.name",
                    )?
                    .query_map([], |r| {
                        Ok((
                            TemplateKey {
                                channel: r.get(0)?,
                                locale: r.get(1)?,
                                name: r.get(2)?,
                            },
                            r.get::<_, u32>(3)?,
                            r.get::<_, Option<u32>>(4)?,
                            r.get::<_, Option<i64>>(5)?,
                            r.get::<_, Option<String>>(6)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows
                    .into_iter()
                    .map(|(key, latest, version, at, by)| {
                        let publication = match (version, at, by) {
                            // Version 0: unpublished, the file is live.
                            (Some(version), Some(at), Some(by)) if version > 0 => {
                                Some(Publication {
                                    key: key.clone(),
                                    version,
                                    published_at: time_from_sql(at),
                                    published_by: by,
                                })
                            }
                            _ => None,
                        };
                        (key, publication, latest)
                    })
                    .collect())
            })
            .await?)
    }

    async fn published_templates(&self) -> Result<Vec<TemplateVersion>, StoreError> {
        Ok(self
            .database()
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT v.channel, v.locale, v.name, v.version, v.parts, v.author, \
                         v.message, v.created_at FROM template_published p \
                         JOIN template_versions v ON v.channel = p.channel \
                         AND v.locale = p.locale AND v.name = p.name AND v.version = p.version \
                         ORDER BY v.channel, v.locale, v.name",
                    )?
                    .query_map([], version_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(version_from_row).collect()
            })
            .await?)
    }

    async fn templates_generation(&self) -> Result<i64, StoreError> {
        Ok(self
            .database()
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT coalesce(max(generation), 0) FROM template_published")?
                    .query_row([], |r| r.get(0))?)
            })
            .await?)
    }
}

/// The published versions in the database file at `path`, read without writing anything
/// (for `omnibridge check`): empty when the file or its template tables do not exist yet.
pub fn read_published(path: &std::path::Path) -> Result<Vec<TemplateVersion>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let read = || -> Result<Vec<TemplateVersion>, DbError> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let has_tables: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'template_published')",
            [],
            |r| r.get(0),
        )?;
        if !has_tables {
            return Ok(Vec::new());
        }
        let rows = conn
            .prepare(
                "SELECT v.channel, v.locale, v.name, v.version, v.parts, v.author, \
                 v.message, v.created_at FROM template_published p \
                 JOIN template_versions v ON v.channel = p.channel \
                 AND v.locale = p.locale AND v.name = p.name AND v.version = p.version",
            )?
            .query_map([], version_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(version_from_row).collect()
    };
    read().map_err(|error| format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sqlite::{Database, Durability};

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.sqlite"), Durability::Normal).unwrap();
        (dir, SqliteStore::new(db))
    }

    #[tokio::test]
    async fn versions_are_numbered_and_publishing_moves_the_generation() {
        let (_dir, store) = store();
        let key = TemplateKey::parse("default", "es", "payment_request").unwrap();
        let parts: Parts = [(String::new(), "Hola {{amount}}".to_owned())].into();
        let (one, two) = tokio::join!(
            store.add_template_version(&key, &parts, "lead", "first"),
            store.add_template_version(&key, &parts, "lead", "second"),
        );
        let mut numbers = [one.unwrap().version, two.unwrap().version];
        numbers.sort_unstable();
        assert_eq!(numbers, [1, 2]);
        assert_eq!(store.templates_generation().await.unwrap(), 0);
        assert!(
            store
                .publish_template(&key, 9, "lead")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .publish_template(&key, 2, "lead")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.templates_generation().await.unwrap(), 1);
        assert_eq!(store.published_templates().await.unwrap()[0].version, 2);
        store.publish_template(&key, 1, "ops").await.unwrap();
        assert_eq!(store.templates_generation().await.unwrap(), 2);
        assert!(store.unpublish_template(&key, "ops").await.unwrap());
        assert!(!store.unpublish_template(&key, "ops").await.unwrap());
        assert_eq!(store.templates_generation().await.unwrap(), 3);
        assert!(store.published_templates().await.unwrap().is_empty());
        assert!(store.stored_templates().await.unwrap()[0].1.is_none());
        store.publish_template(&key, 1, "ops").await.unwrap();
        let listed = store.stored_templates().await.unwrap();
        assert_eq!(listed.len(), 1);
        let (_, publication, latest) = &listed[0];
        assert_eq!((publication.as_ref().unwrap().version, *latest), (1, 2));
        assert_eq!(publication.as_ref().unwrap().published_by, "ops");
        assert_eq!(store.template_versions(&key).await.unwrap().len(), 2);
        assert_eq!(
            store
                .template_version(&key, 1)
                .await
                .unwrap()
                .unwrap()
                .message,
            "first"
        );
    }
}
