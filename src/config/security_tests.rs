//! Tests of the edge-security config sections: patterns, the admin token, key paths.

mod unit {
    use super::super::*;

    #[test]
    fn blacklist_patterns() {
        assert_eq!(
            blacklist_pattern("+7 999 000-00-00").unwrap(),
            "79990000000"
        );
        assert_eq!(blacklist_pattern("7800*").unwrap(), "7800*");
        assert!(blacklist_pattern("*").is_err());
        assert!(blacklist_pattern("78*00").is_err());
        assert!(blacklist_pattern("alice").is_err());
    }

    #[test]
    fn admin_token_debug_is_redacted() {
        let token = AdminToken::new("s3cret-s3cret-s3cret".into());
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn short_or_double_tokens_are_refused() {
        let mut p = Problems::default();
        assert!(admin_token(Some("short"), None, &mut p).is_none());
        assert!(admin_token(Some("x"), Some("/y"), &mut p).is_none());
        assert!(admin_token(None, Some("/nonexistent/token"), &mut p).is_none());
        assert_eq!(p.len(), 3);
        let mut p = Problems::default();
        let ok = admin_token(Some("0123456789abcdef"), None, &mut p);
        assert_eq!(
            ok.map(|t| t.expose().to_owned()).as_deref(),
            Some("0123456789abcdef")
        );
    }
}

mod file {
    use crate::config::{Config, ConfigError};

    #[test]
    fn viewer_tokens_are_checked_one_by_one() {
        let found = problems(
            r#"
[http]
admin_token = "admin-0123456789abcdef"
viewer_tokens = ["viewer-0123456789abcdef", "short", "admin-0123456789abcdef", "viewer-0123456789abcdef"]
session_ttl_hours = 0
[store]
pool_usage_retention_days = 0
"#,
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "http.session_ttl_hours",
                "http.viewer_tokens[1]",
                "http.viewer_tokens[2]",
                "http.viewer_tokens[3]",
                "store.pool_usage_retention_days",
            ],
            "{found:?}"
        );
        let ok = Config::from_toml_str(
            "[http]\nviewer_tokens = [\"viewer-0123456789abcdef\"]\nsecure_cookies = true\n",
        )
        .unwrap();
        assert_eq!(ok.http.viewer_tokens.len(), 1);
        assert!(ok.http.secure_cookies);
        assert_eq!(ok.http.session_ttl.as_secs(), 12 * 3600);
    }

    fn problems(toml: &str) -> Vec<(String, String)> {
        match Config::from_toml_str(toml) {
            Err(ConfigError::Invalid(problems)) => {
                problems.into_iter().map(|p| (p.path, p.message)).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_security_key_is_reported_with_its_path() {
        let found = problems(
            r#"
[http]
admin_token = "short"
[pbx]
trusted = ["nonsense"]
[blacklist]
numbers = ["7916*", "abc", "*"]
status = 200
[security]
scanner_user_agents = [" "]
[security.flood]
messages_per_sec = 0
burst = 0
ban_secs = 0
max_tracked_ips = 1
"#,
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        for path in [
            "http.admin_token",
            "pbx.trusted[0]",
            "blacklist.numbers[1]",
            "blacklist.numbers[2]",
            "blacklist.status",
            "security.scanner_user_agents[0]",
            "security.flood.messages_per_sec",
            "security.flood.burst",
            "security.flood.ban_secs",
            "security.flood.max_tracked_ips",
        ] {
            assert!(paths.contains(&path), "{path} missing from {found:#?}");
        }
    }

    #[test]
    fn unknown_security_keys_are_refused() {
        let found = problems("[security.flood]\nrate = 5\n");
        assert!(
            found.iter().any(|(p, _)| p.contains("security.flood")),
            "{found:?}"
        );
    }

    #[test]
    fn the_token_file_is_read_and_its_first_line_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "0123456789abcdefXYZ\n# comment\n").unwrap();
        let toml = format!("[http]\nadmin_token_file = \"{}\"\n", file.display());
        let config = Config::from_toml_str(&toml).unwrap();
        let token = config.http.admin_token.clone().unwrap();
        assert_eq!(token.expose(), "0123456789abcdefXYZ");
        assert!(!format!("{:?}", config.http).contains("0123456789abcdef"));
    }
}
