//! Delivery tracking on SQLite: provider message id → outbound id, and the highest delivery
//! status of each outbound message (read-compare-write inside one writer job, so concurrent
//! statuses, even from several processes, never downgrade).

use omnibridge_sdk::{DeliveryStatus, OutboundId, ProviderMessageId};
use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Database, DbError, now_millis};
use crate::store::StoreError;

pub(super) async fn link(
    db: &Database,
    channel_id: &str,
    outbound: &OutboundId,
    provider_ids: &[ProviderMessageId],
) -> Result<(), StoreError> {
    if provider_ids.is_empty() {
        return Ok(());
    }
    let channel_id = channel_id.to_owned();
    let outbound = outbound.clone();
    let ids = provider_ids.to_vec();
    db.write(move |conn| link_in(conn, &channel_id, &outbound, &ids))
        .await?;
    Ok(())
}

/// Links `provider_ids` of the channel `channel_id` to `outbound` in the caller's write.
pub fn link_in(
    conn: &rusqlite::Connection,
    channel_id: &str,
    outbound: &OutboundId,
    provider_ids: &[ProviderMessageId],
) -> Result<(), DbError> {
    if provider_ids.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO provider_messages \
         (channel_id, provider_message_id, outbound_id, created_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    for id in provider_ids {
        insert.execute(params![
            channel_id,
            id.as_str(),
            outbound.as_str(),
            now_millis()
        ])?;
    }
    Ok(())
}

pub(super) async fn outbound_for(
    db: &Database,
    channel_id: &str,
    provider_id: &ProviderMessageId,
) -> Result<Option<OutboundId>, StoreError> {
    let (channel_id, id) = (channel_id.to_owned(), provider_id.as_str().to_owned());
    let found = db
        .read_point(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT outbound_id FROM provider_messages \
                     WHERE channel_id = ?1 AND provider_message_id = ?2",
                )?
                .query_row(params![channel_id, id], |row| row.get::<_, String>(0))
                .optional()?)
        })
        .await?;
    Ok(found.map(OutboundId::new))
}

pub(super) async fn advance(
    db: &Database,
    outbound: &OutboundId,
    status: DeliveryStatus,
) -> Result<bool, StoreError> {
    let outbound = outbound.clone();
    Ok(db
        .write(move |conn| advance_in(conn, &outbound, status))
        .await?)
}

/// [`crate::store::Store::advance_delivery`] in the caller's write: moves the status of
/// `outbound` to `status` unless it already reached a higher one; answers whether `status` is
/// now the current one.
pub fn advance_in(
    conn: &rusqlite::Connection,
    outbound: &OutboundId,
    status: DeliveryStatus,
) -> Result<bool, DbError> {
    let name = status_name(status)?;
    let current: Option<String> = conn
        .prepare_cached("SELECT status FROM deliveries WHERE outbound_id = ?1")?
        .query_row([outbound.as_str()], |row| row.get(0))
        .optional()?;
    if let Some(current) = current
        && status < status_from_name(&current)?
    {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO deliveries (outbound_id, status, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (outbound_id) DO UPDATE SET status = excluded.status, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![outbound.as_str(), name, now_millis()])?;
    Ok(true)
}

pub(super) async fn status(
    db: &Database,
    outbound: &OutboundId,
) -> Result<Option<DeliveryStatus>, StoreError> {
    let outbound = outbound.as_str().to_owned();
    let found = db
        .read_point(move |conn| {
            let name: Option<String> = conn
                .prepare_cached("SELECT status FROM deliveries WHERE outbound_id = ?1")?
                .query_row([outbound], |row| row.get(0))
                .optional()?;
            name.map(|name| status_from_name(&name)).transpose()
        })
        .await?;
    Ok(found)
}

pub(in crate::store) fn status_name(status: DeliveryStatus) -> Result<String, DbError> {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        _ => Err(DbError::Corrupt(format!(
            "unnamed delivery status {status:?}"
        ))),
    }
}

pub(in crate::store) fn status_from_name(name: &str) -> Result<DeliveryStatus, DbError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|error| DbError::Corrupt(format!("delivery status {name:?}: {error}")))
}
