//! Migration `V9_REPORTS` (the report rollup, its triggers and the callers' previous calls),
//! kept beside `schema.rs` so that file stays short; `schema::MIGRATIONS` lists it in order.

/// The insert trigger's first statement (V9, again in V24): the new CDR added to its rollup
/// line. A macro so that both migrations, which must each be one literal, share one text.
macro_rules! report_insert_rollup_sql {
    () => {
        "    INSERT INTO report_rollup VALUES (
        substr(NEW.started_at, 1, 13), NEW.site, coalesce(NEW.source, ''), coalesce(NEW.medium, ''),
        coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END,
        1, NEW.first_time_caller, NEW.answered_at IS NOT NULL, NEW.missed,
        NEW.missed = 1 AND NEW.called_back_at IS NULL, NEW.quality,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.wait_secs ELSE 0 END,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.talk_secs ELSE 0 END, 0,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,
        first_time_calls = first_time_calls + excluded.first_time_calls,
        answered = answered + excluded.answered, missed = missed + excluded.missed,
        missed_not_called_back = missed_not_called_back + excluded.missed_not_called_back,
        quality_calls = quality_calls + excluded.quality_calls,
        wait_secs = wait_secs + excluded.wait_secs, talk_secs = talk_secs + excluded.talk_secs,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
"
    };
}

/// The insert trigger's last statement (V9, again in V24): a later call of the same caller,
/// written before this one, now has this call as its previous one.
macro_rules! report_insert_next_fix_sql {
    () => {
        "    UPDATE cdr SET prev_started_at = NEW.started_at WHERE seq = (
        SELECT n.seq FROM cdr AS n
        WHERE n.caller = NEW.caller AND n.site = NEW.site AND n.started_at > NEW.started_at
          AND n.disposition <> 'rejected'
        ORDER BY n.started_at LIMIT 1)
      AND (prev_started_at IS NULL OR prev_started_at < NEW.started_at);
"
    };
}

/// Version 9: what keeps reports independent of the history's length.
///
/// - `report_rollup`: sums of calls and leads per UTC hour, site, source, medium, campaign,
///   number kind and won-deal currency (`''` for none), kept by triggers on every insert,
///   update and delete of `cdr` and `leads` (a change subtracts the old row and adds the new).
///   Calls calltrack refused (`rejected`) are not in it.
/// - `cdr.prev_started_at`: the caller's previous (not rejected) call to the same site, kept
///   by triggers (a CDR written late, after a later call of the same caller, fixes that
///   call's value). A call is its caller's first of a period when this is before the
///   period; `cdr_repeats` finds the others by range.
pub(super) const V9_REPORTS: &str = concat!(
    "
ALTER TABLE cdr ADD COLUMN prev_started_at TEXT;
CREATE INDEX cdr_repeats ON cdr (prev_started_at, started_at, site, source, medium, campaign, number_kind)
    WHERE prev_started_at IS NOT NULL;
CREATE INDEX cdr_caller_site_started ON cdr (caller, site, started_at);

CREATE TABLE report_rollup (
    hour                   TEXT NOT NULL,
    site                   TEXT NOT NULL,
    source                 TEXT NOT NULL,
    medium                 TEXT NOT NULL,
    campaign               TEXT NOT NULL,
    number_kind            TEXT NOT NULL,
    currency               TEXT NOT NULL,
    calls                  INTEGER NOT NULL DEFAULT 0,
    first_time_calls       INTEGER NOT NULL DEFAULT 0,
    answered               INTEGER NOT NULL DEFAULT 0,
    missed                 INTEGER NOT NULL DEFAULT 0,
    missed_not_called_back INTEGER NOT NULL DEFAULT 0,
    quality_calls          INTEGER NOT NULL DEFAULT 0,
    wait_secs              INTEGER NOT NULL DEFAULT 0,
    talk_secs              INTEGER NOT NULL DEFAULT 0,
    leads                  INTEGER NOT NULL DEFAULT 0,
    won_minor              INTEGER NOT NULL DEFAULT 0,
    won_deals              INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, site, source, medium, campaign, number_kind, currency)
) WITHOUT ROWID;

CREATE TRIGGER report_cdr_insert AFTER INSERT ON cdr WHEN NEW.disposition <> 'rejected' BEGIN
",
    report_insert_rollup_sql!(),
    "    UPDATE cdr SET prev_started_at = (
        SELECT max(p.started_at) FROM cdr AS p
        WHERE p.caller = NEW.caller AND p.site = NEW.site AND p.started_at < NEW.started_at
          AND p.disposition <> 'rejected')
    WHERE seq = NEW.seq;
",
    report_insert_next_fix_sql!(),
    "END;

CREATE TRIGGER report_cdr_forget AFTER DELETE ON cdr WHEN OLD.disposition <> 'rejected' BEGIN
    UPDATE report_rollup SET calls = calls - 1,
        first_time_calls = first_time_calls - OLD.first_time_caller,
        answered = answered - (OLD.answered_at IS NOT NULL), missed = missed - OLD.missed,
        missed_not_called_back = missed_not_called_back - (OLD.missed = 1 AND OLD.called_back_at IS NULL),
        quality_calls = quality_calls - OLD.quality,
        wait_secs = wait_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.wait_secs ELSE 0 END,
        talk_secs = talk_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.talk_secs ELSE 0 END,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    UPDATE cdr SET prev_started_at = OLD.prev_started_at
    WHERE caller = OLD.caller AND site = OLD.site AND prev_started_at = OLD.started_at;
END;

CREATE TRIGGER report_cdr_update AFTER UPDATE OF started_at, answered_at, wait_secs, talk_secs,
    disposition, site, number_kind, source, medium, campaign, first_time_caller, quality, missed,
    called_back_at, deal_amount_minor, deal_currency, deal_status ON cdr BEGIN
    UPDATE report_rollup SET calls = calls - 1,
        first_time_calls = first_time_calls - OLD.first_time_caller,
        answered = answered - (OLD.answered_at IS NOT NULL), missed = missed - OLD.missed,
        missed_not_called_back = missed_not_called_back - (OLD.missed = 1 AND OLD.called_back_at IS NULL),
        quality_calls = quality_calls - OLD.quality,
        wait_secs = wait_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.wait_secs ELSE 0 END,
        talk_secs = talk_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.talk_secs ELSE 0 END,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE OLD.disposition <> 'rejected' AND hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    INSERT INTO report_rollup SELECT
        substr(NEW.started_at, 1, 13), NEW.site, coalesce(NEW.source, ''), coalesce(NEW.medium, ''),
        coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END,
        1, NEW.first_time_caller, NEW.answered_at IS NOT NULL, NEW.missed,
        NEW.missed = 1 AND NEW.called_back_at IS NULL, NEW.quality,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.wait_secs ELSE 0 END,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.talk_secs ELSE 0 END, 0,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won'
    WHERE NEW.disposition <> 'rejected'
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,
        first_time_calls = first_time_calls + excluded.first_time_calls,
        answered = answered + excluded.answered, missed = missed + excluded.missed,
        missed_not_called_back = missed_not_called_back + excluded.missed_not_called_back,
        quality_calls = quality_calls + excluded.quality_calls,
        wait_secs = wait_secs + excluded.wait_secs, talk_secs = talk_secs + excluded.talk_secs,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;

CREATE TRIGGER report_lead_insert AFTER INSERT ON leads BEGIN
    INSERT INTO report_rollup (hour, site, source, medium, campaign, number_kind, currency,
        leads, won_minor, won_deals)
    VALUES (substr(NEW.created_at, 1, 13), NEW.site, coalesce(NEW.source, ''),
        coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END, 1,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;

CREATE TRIGGER report_lead_forget AFTER DELETE ON leads BEGIN
    UPDATE report_rollup SET leads = leads - 1,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.created_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
END;

CREATE TRIGGER report_lead_update AFTER UPDATE OF created_at, site, source, medium, campaign,
    number_kind, deal_amount_minor, deal_currency, deal_status ON leads BEGIN
    UPDATE report_rollup SET leads = leads - 1,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.created_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    INSERT INTO report_rollup (hour, site, source, medium, campaign, number_kind, currency,
        leads, won_minor, won_deals)
    VALUES (substr(NEW.created_at, 1, 13), NEW.site, coalesce(NEW.source, ''),
        coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END, 1,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;
",
    rollup_rebuild_sql!()
);

/// Version 24: the insert trigger writes a new CDR's row a second time for its
/// `prev_started_at` only when the row came without the value and the caller has an earlier
/// call to the site. The writer's insert computes the value in the same statement
/// (`columns::insert_cdr`), so the common insert writes its row once; a row inserted any other
/// way (bulk loads, tests) is completed as before. The trigger is otherwise V9's.
pub(super) const V24_PREV_STARTED_GIVEN: &str = concat!(
    "
DROP TRIGGER report_cdr_insert;
CREATE TRIGGER report_cdr_insert AFTER INSERT ON cdr WHEN NEW.disposition <> 'rejected' BEGIN
",
    report_insert_rollup_sql!(),
    "    UPDATE cdr SET prev_started_at = (
        SELECT max(p.started_at) FROM cdr AS p
        WHERE p.caller = NEW.caller AND p.site = NEW.site AND p.started_at < NEW.started_at
          AND p.disposition <> 'rejected')
    WHERE seq = NEW.seq AND NEW.prev_started_at IS NULL AND EXISTS (
        SELECT 1 FROM cdr AS p
        WHERE p.caller = NEW.caller AND p.site = NEW.site AND p.started_at < NEW.started_at
          AND p.disposition <> 'rejected');
",
    report_insert_next_fix_sql!(),
    "END;
"
);
