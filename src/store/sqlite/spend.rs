//! The daily limits of a guarded API key ([`SpendCheck`]), evaluated inside the write
//! transaction that inserts the intent: the single writer (and `BEGIN IMMEDIATE` across
//! processes) makes the sum and the insert one step, so concurrent creates cannot exceed a
//! limit together.

use rusqlite::{Connection, params};

use super::time_to_sql;
use crate::payments::intent::PaymentIntent;
use crate::payments::store::{SpendCheck, SpendRefusal, UNCOUNTED_STATES};
use crate::sqlite::DbError;

/// The sum of `check.key_name`'s counted intents in `check.currency` created since
/// `since_sql`, in `conversation` when given.
fn spent(
    conn: &Connection,
    check: &SpendCheck,
    since_sql: i64,
    conversation: Option<&str>,
) -> Result<i64, DbError> {
    let [a, b, c, d] = UNCOUNTED_STATES.map(|state| state.as_str());
    let total: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount), 0) FROM payment_intents \
             WHERE created_by_key = ?1 AND currency = ?2 AND created_at >= ?3 \
             AND (?4 IS NULL OR conversation_id = ?4) AND state NOT IN (?5, ?6, ?7, ?8)",
        )?
        .query_row(
            params![
                check.key_name,
                check.currency,
                since_sql,
                conversation,
                a,
                b,
                c,
                d
            ],
            |r| r.get(0),
        )?;
    Ok(total)
}

/// The first daily limit of `check` that `intent` would exceed, with the room left before it.
pub(super) fn over_limit(
    conn: &Connection,
    check: &SpendCheck,
    intent: &PaymentIntent,
) -> Result<Option<SpendRefusal>, DbError> {
    let since = time_to_sql(check.since)?;
    for (limit, limit_minor, conversation) in check.limits(intent) {
        let used = spent(conn, check, since, conversation)?;
        if let Some(refusal) = SpendRefusal::of(limit, limit_minor, used, intent.amount) {
            return Ok(Some(refusal));
        }
    }
    Ok(None)
}
