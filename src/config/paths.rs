//! File paths in a config file are relative to the file's directory, so `--config FILE`
//! finds the same database, MaxMind file and token file from any working directory (the
//! embedded default has no file: its paths stay relative to the current directory).
//! Applied to `store.path`, `geo.mmdb_path` and `http.admin_token_file` before validation,
//! the same way for every command (serve, reload, cdr, pool, route, check-config).

use std::path::Path;

use super::file::ConfigFile;

/// Rewrites every relative path in `file` as `dir` joined with it, made absolute.
pub(super) fn resolve(file: &mut ConfigFile, dir: &Path) {
    resolve_one(&mut file.store.path, dir);
    if let Some(spool) = file.store.spool_path.as_mut() {
        resolve_one(spool, dir);
    }
    resolve_one(&mut file.media.recordings_dir, dir);
    if let Some(mmdb) = file.geo.mmdb_path.as_mut() {
        resolve_one(mmdb, dir);
    }
    if let Some(token) = file.http.admin_token_file.as_mut() {
        resolve_one(token, dir);
    }
    resolve_prompts(file, dir);
}

/// Prompt files (`announce` or a voicemail `prompt` that names a WAV file) of sites, their
/// numbers and schemes.
fn resolve_prompts(file: &mut ConfigFile, dir: &Path) {
    let mut settings: Vec<&mut Option<String>> = Vec::new();
    let mut voicemails: Vec<&mut String> = Vec::new();
    for site in &mut file.sites {
        settings.push(&mut site.announce);
        settings.extend(site.static_numbers.iter_mut().map(|n| &mut n.announce));
        voicemails.extend(site.voicemail.as_mut().map(|v| &mut v.prompt));
    }
    for scheme in &mut file.schemes {
        settings.push(&mut scheme.announce);
        settings.extend(scheme.steps.iter_mut().map(|s| &mut s.prompt));
        voicemails.extend(scheme.voicemail.as_mut().map(|v| &mut v.prompt));
    }
    let all = settings.into_iter().flatten().chain(voicemails);
    for setting in all {
        if super::voice::is_prompt_path(setting) {
            resolve_one(setting, dir);
        }
    }
}

/// The directory paths in config file `path` are relative to (absolute when it can be).
pub(super) fn base_of(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// A blank value is left for validation to report; an absolute one is kept.
fn resolve_one(value: &mut String, dir: &Path) {
    let text = value.trim();
    if text.is_empty() || Path::new(text).is_absolute() {
        return;
    }
    let joined = dir.join(text.strip_prefix("./").unwrap_or(text));
    *value = joined.to_string_lossy().into_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = Path::new("/etc/calltrack");
        let mut v = "./data/calltrack.db".to_owned();
        resolve_one(&mut v, dir);
        assert_eq!(v, "/etc/calltrack/data/calltrack.db");
        let mut v = "/var/lib/ct.db".to_owned();
        resolve_one(&mut v, dir);
        assert_eq!(v, "/var/lib/ct.db");
        let mut v = " ".to_owned();
        resolve_one(&mut v, dir);
        assert_eq!(v, " ");
        assert_eq!(
            base_of(Path::new("/etc/calltrack/calltrack.toml")),
            Path::new("/etc/calltrack")
        );
        assert!(base_of(Path::new("calltrack.toml")).is_absolute());
    }
}
