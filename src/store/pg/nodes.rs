//! The `nodes` table: each node's heartbeat (server clock, so nodes' clocks need not agree),
//! read for the liveness decision ([`super::liveness`]), and the claim that makes exactly one
//! survivor close a dead node's calls.

use postgres::GenericClient;

use super::liveness::NodeBeat;
use crate::store::StoreError;

/// The server's clock in epoch milliseconds, as SQL.
const SERVER_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Stamps `node`'s heartbeat (creating its row, with where its HTTP API is reached); a node
/// back after being declared dead is alive again. Returns who had taken its calls over
/// meanwhile, if anyone.
pub fn beat(
    client: &mut impl GenericClient,
    node: &str,
    started_at_ms: i64,
    http_url: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let sql = format!(
        "WITH old AS (SELECT taken_over_by FROM nodes WHERE node_id = $1) \
         INSERT INTO nodes (node_id, started_at, heartbeat_at, http_url) \
         VALUES ($1, $2, {SERVER_NOW_MS}, $3) \
         ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, \
         started_at = EXCLUDED.started_at, http_url = EXCLUDED.http_url, \
         taken_over_at = NULL, taken_over_by = NULL \
         RETURNING (SELECT taken_over_by FROM old)"
    );
    let row = client.query_one(&sql, &[&node, &started_at_ms, &http_url])?;
    Ok(row.try_get(0)?)
}

/// The server's clock now and every node's row.
pub fn read(client: &mut impl GenericClient) -> Result<(i64, Vec<NodeBeat>), StoreError> {
    let now: i64 = client
        .query_one(&format!("SELECT {SERVER_NOW_MS}"), &[])?
        .try_get(0)?;
    let beats = client
        .query(
            "SELECT node_id, heartbeat_at, taken_over_at IS NOT NULL FROM nodes ORDER BY node_id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(NodeBeat {
                node_id: r.try_get(0)?,
                heartbeat_at_ms: r.try_get(1)?,
                taken_over: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((now, beats))
}

/// Claims the dead node `beat` for `me`, if nobody did and it has not beaten since it was
/// read. Run in the transaction that closes its calls: a second claimer waits on the row
/// lock, then finds it claimed and gets false.
pub fn claim(
    client: &mut impl GenericClient,
    beat: &NodeBeat,
    me: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE nodes SET taken_over_at = {SERVER_NOW_MS}, taken_over_by = $3 \
         WHERE node_id = $1 AND heartbeat_at = $2 AND taken_over_at IS NULL"
    );
    let n = client.execute(&sql, &[&beat.node_id, &beat.heartbeat_at_ms, &me])?;
    Ok(n == 1)
}

/// A clean stop: forgets `node`'s row unless it left live calls (then it stays, to be taken
/// over). Returns whether the row was removed.
pub fn leave(client: &mut impl GenericClient, node: &str) -> Result<bool, StoreError> {
    let n = client.execute(
        "DELETE FROM nodes WHERE node_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM live_calls WHERE node_id = $1)",
        &[&node],
    )?;
    Ok(n == 1)
}
