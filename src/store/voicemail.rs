//! Voicemail in the store: the CDR's `voicemail_secs` column (schema version 20). A voicemail
//! is a `voicemail` disposition (missed: nobody answered) whose message is the call's
//! recording (`recording_path`, `recording_status`), kept and expired like any recording.

/// Version 20: the length of a voicemail's message, whole seconds (NULL for other calls).
pub(super) const V20_VOICEMAIL: &str = "
ALTER TABLE cdr ADD COLUMN voicemail_secs INTEGER;
";
