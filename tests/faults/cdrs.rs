//! Reading and checking the CDRs a fault test left in the database.

use std::collections::HashSet;
use std::path::Path;

use calltrack::call::record::{CallDetailRecord, Disposition};

/// Every CDR in the database, oldest first.
pub fn all(db: &Path) -> Vec<CallDetailRecord> {
    let conn = calltrack::store::open_existing(db).unwrap();
    let mut rows = calltrack::store::list_recent(&conn, 1_000_000).unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.cdr).collect()
}

/// Fails when two CDRs share an id or a carrier Call-ID (a call recorded twice).
pub fn assert_unique(cdrs: &[CallDetailRecord]) {
    let ids: HashSet<&str> = cdrs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), cdrs.len(), "duplicate CDR ids");
    let call_ids: HashSet<&str> = cdrs.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(
        call_ids.len(),
        cdrs.len(),
        "a Call-ID has more than one CDR"
    );
}

pub fn count(cdrs: &[CallDetailRecord], disposition: Disposition) -> usize {
    cdrs.iter().filter(|c| c.disposition == disposition).count()
}
