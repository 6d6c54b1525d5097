//! Migration `V8_REPORT_ROLLUP` (PostgreSQL's hourly report rollup, the callers' previous
//! calls and the triggers keeping both), kept beside `schema.rs` so that file stays short;
//! `schema::MIGRATIONS` lists it in order.
//!
//! The same sums as SQLite's `report_rollup` (`store::schema_reports`) plus those SQLite keeps
//! in its side rollups (`report_confidence`, `report_targets`), in one table. Statement-level
//! triggers with transition tables add a statement's rows once per rollup line, as upserts in
//! key order (`ON CONFLICT ... DO UPDATE SET n = n + excluded.n`): several nodes writing CDRs
//! of the same hour add to the same line without losing counts. An update (a patch, a
//! takeover's interrupted CDR replaced by the real one, a callback mark) subtracts its old
//! rows and adds its new ones.
//!
//! `cdr.prev_started_at` (the caller's previous not rejected call to the same site) is kept
//! as on SQLite, under a transaction-level advisory lock per caller and site (taken in a
//! fixed order), so two nodes writing calls of one caller at once see each other's: the
//! second waits for the first to commit, then reads its call. A deadlock between two nodes'
//! batches (possible only across statements of one transaction) is prevented by the lock
//! every transaction writing CDRs or leads takes first (`batch::lock_rollup`).

/// The rollup's sums of the CDRs in relation `$rel` (a transition table or `cdr`), each
/// multiplied by `$sign`: one line per row, grouped by [`rollup_upsert_sql`].
macro_rules! cdr_lines_sql {
    ($rel:literal, $sign:literal) => {
        concat!(
            "SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
        site, coalesce(source, '') AS source, coalesce(medium, '') AS medium,
        coalesce(campaign, '') AS campaign, number_kind,
        CASE WHEN deal_status = 'won' THEN coalesce(deal_currency, '') ELSE '' END AS currency,
        ",
            $sign,
            " AS s, 1 AS calls, first_time_caller AS first_time_calls,
        (answered_at IS NOT NULL)::int AS answered, missed,
        (missed = 1 AND called_back_at IS NULL)::int AS missed_not_called_back,
        quality AS quality_calls,
        CASE WHEN answered_at IS NOT NULL THEN wait_secs ELSE 0 END AS wait_secs,
        CASE WHEN answered_at IS NOT NULL THEN talk_secs ELSE 0 END AS talk_secs,
        0 AS leads,
        CASE WHEN deal_status = 'won' THEN coalesce(deal_amount_minor, 0) ELSE 0 END AS won_minor,
        (deal_status IS NOT DISTINCT FROM 'won')::int AS won_deals,
        (confidence IS NOT NULL)::int AS confident_calls,
        floor(confidence * 1000 + 0.5)::bigint AS confidence_milli,
        (target IS NOT NULL)::int AS scored_calls, target AS target_calls
    FROM ",
            $rel,
            " WHERE disposition <> 'rejected'"
        )
    };
}

/// The rollup's sums of the leads in relation `$rel`, each multiplied by `$sign`.
macro_rules! lead_lines_sql {
    ($rel:literal, $sign:literal) => {
        concat!(
            "SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
        site, coalesce(source, '') AS source, coalesce(medium, '') AS medium,
        coalesce(campaign, '') AS campaign, number_kind,
        CASE WHEN deal_status = 'won' THEN coalesce(deal_currency, '') ELSE '' END AS currency,
        ",
            $sign,
            " AS s, 0 AS calls, 0 AS first_time_calls, 0 AS answered, 0 AS missed,
        0 AS missed_not_called_back, 0 AS quality_calls, 0 AS wait_secs, 0 AS talk_secs,
        1 AS leads,
        CASE WHEN deal_status = 'won' THEN coalesce(deal_amount_minor, 0) ELSE 0 END AS won_minor,
        (deal_status IS NOT DISTINCT FROM 'won')::int AS won_deals, 0 AS confident_calls,
        0 AS confidence_milli, 0 AS scored_calls, 0 AS target_calls
    FROM ",
            $rel
        )
    };
}

/// Adds `$lines` (a `UNION ALL` of [`cdr_lines_sql`] / [`lead_lines_sql`]) to the rollup:
/// one signed sum per line, lines whose sums are all zero left out, upserted in key order.
macro_rules! rollup_upsert_sql {
    ($lines:expr) => {
        concat!(
            "INSERT INTO report_rollup AS r SELECT hour, site, source, medium, campaign,
        number_kind, currency, sum(s * calls), coalesce(sum(s * first_time_calls), 0),
        sum(s * answered), coalesce(sum(s * missed), 0),
        coalesce(sum(s * missed_not_called_back), 0), coalesce(sum(s * quality_calls), 0),
        coalesce(sum(s * wait_secs), 0), coalesce(sum(s * talk_secs), 0), sum(s * leads),
        sum(s * won_minor), sum(s * won_deals), sum(s * confident_calls),
        coalesce(sum(s * confidence_milli), 0), sum(s * scored_calls),
        coalesce(sum(s * target_calls), 0)
    FROM (",
            $lines,
            ") AS d
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    HAVING sum(s * calls) <> 0 OR sum(s * leads) <> 0 OR coalesce(sum(s * first_time_calls), 0) <> 0
        OR sum(s * answered) <> 0 OR coalesce(sum(s * missed), 0) <> 0
        OR coalesce(sum(s * missed_not_called_back), 0) <> 0
        OR coalesce(sum(s * quality_calls), 0) <> 0 OR coalesce(sum(s * wait_secs), 0) <> 0
        OR coalesce(sum(s * talk_secs), 0) <> 0 OR sum(s * won_minor) <> 0
        OR sum(s * won_deals) <> 0 OR sum(s * confident_calls) <> 0
        OR coalesce(sum(s * confidence_milli), 0) <> 0 OR sum(s * scored_calls) <> 0
        OR coalesce(sum(s * target_calls), 0) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (hour, site, source, medium, campaign, number_kind, currency) DO UPDATE SET
        calls = r.calls + excluded.calls,
        first_time_calls = r.first_time_calls + excluded.first_time_calls,
        answered = r.answered + excluded.answered, missed = r.missed + excluded.missed,
        missed_not_called_back = r.missed_not_called_back + excluded.missed_not_called_back,
        quality_calls = r.quality_calls + excluded.quality_calls,
        wait_secs = r.wait_secs + excluded.wait_secs, talk_secs = r.talk_secs + excluded.talk_secs,
        leads = r.leads + excluded.leads, won_minor = r.won_minor + excluded.won_minor,
        won_deals = r.won_deals + excluded.won_deals,
        confident_calls = r.confident_calls + excluded.confident_calls,
        confidence_milli = r.confidence_milli + excluded.confidence_milli,
        scored_calls = r.scored_calls + excluded.scored_calls,
        target_calls = r.target_calls + excluded.target_calls;
"
        )
    };
}

/// `CREATE FUNCTION $name()`: the trigger function of inserted (`new_rows`, sign 1) or
/// deleted (`old_rows`, sign -1) CDRs: their callers' previous calls recomputed, their lines
/// added to the rollup with `$sign`.
macro_rules! cdr_rows_trigger_fn_sql {
    ($name:literal, $rel:literal, $sign:literal) => {
        concat!(
            "
CREATE FUNCTION ",
            $name,
            "() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_fix_prev(array_agg(caller), array_agg(site), array_agg(started_at))
    FROM ",
            $rel,
            " WHERE disposition <> 'rejected';
    ",
            rollup_upsert_sql!(cdr_lines_sql!($rel, $sign)),
            "    RETURN NULL;
END $$;
"
        )
    };
}

/// Version 8: what keeps reports on PostgreSQL independent of the history's length, as
/// SQLite's V9 (see the module note). The backfill runs with `cdr` and `leads` locked against
/// writes, before the triggers exist.
pub(super) const V8_REPORT_ROLLUP: &str = concat!(
    "
LOCK TABLE cdr, leads IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE report_rollup (
    hour                   timestamptz NOT NULL,
    site                   text NOT NULL,
    source                 text NOT NULL,
    medium                 text NOT NULL,
    campaign               text NOT NULL,
    number_kind            text NOT NULL,
    currency               text NOT NULL,
    calls                  bigint NOT NULL DEFAULT 0,
    first_time_calls       bigint NOT NULL DEFAULT 0,
    answered               bigint NOT NULL DEFAULT 0,
    missed                 bigint NOT NULL DEFAULT 0,
    missed_not_called_back bigint NOT NULL DEFAULT 0,
    quality_calls          bigint NOT NULL DEFAULT 0,
    wait_secs              bigint NOT NULL DEFAULT 0,
    talk_secs              bigint NOT NULL DEFAULT 0,
    leads                  bigint NOT NULL DEFAULT 0,
    won_minor              bigint NOT NULL DEFAULT 0,
    won_deals              bigint NOT NULL DEFAULT 0,
    confident_calls        bigint NOT NULL DEFAULT 0,
    confidence_milli       bigint NOT NULL DEFAULT 0,
    scored_calls           bigint NOT NULL DEFAULT 0,
    target_calls           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, site, source, medium, campaign, number_kind, currency)
);

CREATE INDEX cdr_repeats ON cdr (prev_started_at, started_at)
    INCLUDE (site, source, medium, campaign, number_kind) WHERE prev_started_at IS NOT NULL;

UPDATE cdr SET prev_started_at = p.prev FROM (
    SELECT seq, lag(started_at) OVER (PARTITION BY caller, site ORDER BY started_at) AS prev
    FROM cdr WHERE disposition <> 'rejected') AS p
WHERE cdr.seq = p.seq AND cdr.prev_started_at IS DISTINCT FROM p.prev;
",
    rollup_upsert_sql!(concat!(
        cdr_lines_sql!("cdr", "1"),
        " UNION ALL ",
        lead_lines_sql!("leads", "1")
    )),
    "
-- The previous calls of the calls at (callers[i], sites[i], ats[i]) and of the next call
-- after each, recomputed. Each caller and site is locked first, in hash order, under a
-- shared lock of all; a statement of more than 300 of them (a bulk load, a takeover of many
-- calls) takes that one lock alone instead (the lock table holds about 64 per connection).
CREATE FUNCTION report_fix_prev(callers text[], sites text[], ats timestamptz[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    keys integer[];
    k integer;
BEGIN
    IF callers IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(h ORDER BY h) INTO keys FROM (
        SELECT DISTINCT hashtext(c || '/' || s) AS h FROM unnest(callers, sites) AS u(c, s)
        WHERE c IS NOT NULL AND s IS NOT NULL) AS d;
    IF cardinality(keys) > 300 THEN
        PERFORM pg_advisory_xact_lock(1919905653, 0);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1919905653, 0);
        FOREACH k IN ARRAY coalesce(keys, '{}') LOOP
            PERFORM pg_advisory_xact_lock(1919905652, k);
        END LOOP;
    END IF;
    WITH touched AS (
        SELECT x.seq FROM unnest(callers, sites, ats) AS u(c, s, at)
        JOIN cdr AS x ON x.caller = u.c AND x.site = u.s AND x.started_at = u.at
        WHERE x.disposition <> 'rejected'
        UNION
        SELECT (SELECT x.seq FROM cdr AS x
                WHERE x.caller = u.c AND x.site = u.s AND x.started_at > u.at
                  AND x.disposition <> 'rejected'
                ORDER BY x.started_at LIMIT 1)
        FROM unnest(callers, sites, ats) AS u(c, s, at)
    ), fresh AS (
        SELECT c.seq, (SELECT max(p.started_at) FROM cdr AS p
                       WHERE p.caller = c.caller AND p.site = c.site
                         AND p.started_at < c.started_at AND p.disposition <> 'rejected') AS prev
        FROM cdr AS c JOIN touched AS t ON c.seq = t.seq
    )
    UPDATE cdr SET prev_started_at = fresh.prev FROM fresh
    WHERE cdr.seq = fresh.seq AND cdr.prev_started_at IS DISTINCT FROM fresh.prev;
END $$;
",
    cdr_rows_trigger_fn_sql!("report_cdr_inserted", "new_rows", "1"),
    cdr_rows_trigger_fn_sql!("report_cdr_deleted", "old_rows", "-1"),
    "
-- Updates made by report_fix_prev itself (trigger depth 2) change nothing rolled up.
CREATE FUNCTION report_cdr_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    PERFORM report_fix_prev(array_agg(m.caller), array_agg(m.site), array_agg(m.started_at))
    FROM (
        SELECT o.caller, o.site, o.started_at FROM old_rows AS o JOIN new_rows AS n ON n.seq = o.seq
        WHERE (o.caller, o.site, o.started_at, o.disposition)
            IS DISTINCT FROM (n.caller, n.site, n.started_at, n.disposition)
        UNION ALL
        SELECT n.caller, n.site, n.started_at FROM old_rows AS o JOIN new_rows AS n ON n.seq = o.seq
        WHERE (o.caller, o.site, o.started_at, o.disposition)
            IS DISTINCT FROM (n.caller, n.site, n.started_at, n.disposition)
    ) AS m;
    ",
    rollup_upsert_sql!(concat!(
        cdr_lines_sql!("old_rows", "-1"),
        " UNION ALL ",
        cdr_lines_sql!("new_rows", "1")
    )),
    "    RETURN NULL;
END $$;

CREATE FUNCTION report_lead_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ",
    rollup_upsert_sql!(lead_lines_sql!("new_rows", "1")),
    "    RETURN NULL;
END $$;

CREATE FUNCTION report_lead_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ",
    rollup_upsert_sql!(lead_lines_sql!("old_rows", "-1")),
    "    RETURN NULL;
END $$;

CREATE FUNCTION report_lead_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ",
    rollup_upsert_sql!(concat!(
        lead_lines_sql!("old_rows", "-1"),
        " UNION ALL ",
        lead_lines_sql!("new_rows", "1")
    )),
    "    RETURN NULL;
END $$;

CREATE TRIGGER report_cdr_insert AFTER INSERT ON cdr REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_cdr_inserted();
CREATE TRIGGER report_cdr_delete AFTER DELETE ON cdr REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_cdr_deleted();
CREATE TRIGGER report_cdr_update AFTER UPDATE ON cdr
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_cdr_updated();
CREATE TRIGGER report_lead_insert AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_lead_inserted();
CREATE TRIGGER report_lead_delete AFTER DELETE ON leads REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_lead_deleted();
CREATE TRIGGER report_lead_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_lead_updated();
"
);
