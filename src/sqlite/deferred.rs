//! Writes a job leaves to the end of its group-commit transaction, merged with the same
//! writes of the batch's other jobs: many bumps of one row (the log's byte count, a
//! conversation's `last_event_at`) become one statement per transaction instead of one per
//! job. They run on the writer thread just before `COMMIT`, in the same transaction, so they
//! commit with the jobs that deferred them or not at all; a job (or a savepoint inside it)
//! that is rolled back drops what it deferred ([`mark`], [`drop_since`]).
//!
//! Outside a writer transaction (a connection of a test, say) [`defer`] writes at once.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;

use super::DbError;

/// A deferrable write: values of one type and key merge into one write.
pub(crate) trait Merge: Send + 'static {
    /// Folds `later` (deferred after `self`, same key) into `self`.
    fn merge(&mut self, later: Self)
    where
        Self: Sized;

    /// Writes the merged value (before `COMMIT`).
    fn write(&self, conn: &Connection) -> Result<(), DbError>;
}

/// A type-erased [`Merge`].
trait Entry: Send {
    fn merge_boxed(&mut self, later: Box<dyn Entry>);
    fn write(&self, conn: &Connection) -> Result<(), DbError>;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Merge> Entry for T {
    fn merge_boxed(&mut self, later: Box<dyn Entry>) {
        if let Ok(later) = later.into_any().downcast::<T>() {
            self.merge(*later);
        }
    }

    fn write(&self, conn: &Connection) -> Result<(), DbError> {
        Merge::write(self, conn)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// What the open transaction deferred, in order.
type Log = Vec<(TypeId, String, Box<dyn Entry>)>;

thread_local! {
    /// `Some` while the writer thread runs a transaction.
    static OPEN: RefCell<Option<Log>> = const { RefCell::new(None) };
}

/// Defers `value` under `key` to the end of the open transaction (merged with what other
/// jobs deferred under the same type and key), or writes it now when none is open.
pub(crate) fn defer<T: Merge>(
    conn: &Connection,
    key: impl Into<String>,
    value: T,
) -> Result<(), DbError> {
    let value = OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(log) => {
            log.push((TypeId::of::<T>(), key.into(), Box::new(value)));
            None
        }
        None => Some(value),
    });
    match value {
        Some(value) => value.write(conn),
        None => Ok(()),
    }
}

/// How much was deferred so far (for [`drop_since`]).
pub(crate) fn mark() -> usize {
    OPEN.with(|open| open.borrow().as_ref().map_or(0, Vec::len))
}

/// Forgets what was deferred after `mark` (its savepoint was rolled back).
pub(crate) fn drop_since(mark: usize) {
    OPEN.with(|open| {
        if let Some(log) = open.borrow_mut().as_mut() {
            log.truncate(mark);
        }
    });
}

/// Opens the log of a transaction (the writer, after `BEGIN`).
pub(super) fn begin() {
    OPEN.with(|open| *open.borrow_mut() = Some(Vec::new()));
}

/// Closes the log and writes what it holds, merged (the writer, before `COMMIT`).
pub(super) fn flush(conn: &Connection) -> Result<(), DbError> {
    let log = OPEN
        .with(|open| open.borrow_mut().take())
        .unwrap_or_default();
    let mut merged: Vec<Box<dyn Entry>> = Vec::new();
    let mut index: HashMap<(TypeId, String), usize> = HashMap::new();
    for (kind, key, value) in log {
        match index.entry((kind, key)) {
            std::collections::hash_map::Entry::Occupied(at) => {
                merged[*at.get()].merge_boxed(value);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(merged.len());
                merged.push(value);
            }
        }
    }
    for value in &merged {
        value.write(conn)?;
    }
    Ok(())
}

/// Closes the log without writing it (the transaction failed).
pub(super) fn discard() {
    OPEN.with(|open| *open.borrow_mut() = None);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Add(i64);

    impl Merge for Add {
        fn merge(&mut self, later: Self) {
            self.0 += later.0;
        }

        fn write(&self, conn: &Connection) -> Result<(), DbError> {
            conn.execute("UPDATE t SET v = v + ?1", [self.0])?;
            Ok(())
        }
    }

    fn value(conn: &Connection) -> i64 {
        conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn deferred_writes_merge_until_the_flush_and_rolled_back_ones_are_dropped() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (0)")
            .unwrap();
        // No transaction open: written at once.
        defer(&conn, "k", Add(1)).unwrap();
        assert_eq!(value(&conn), 1);
        begin();
        defer(&conn, "k", Add(2)).unwrap();
        let mark = mark();
        defer(&conn, "k", Add(100)).unwrap();
        drop_since(mark);
        defer(&conn, "k", Add(3)).unwrap();
        assert_eq!(value(&conn), 1, "nothing written before the flush");
        flush(&conn).unwrap();
        assert_eq!(value(&conn), 6);
        // Closed again: written at once; a discarded log writes nothing.
        begin();
        defer(&conn, "k", Add(10)).unwrap();
        discard();
        defer(&conn, "k", Add(1)).unwrap();
        assert_eq!(value(&conn), 7);
    }
}
