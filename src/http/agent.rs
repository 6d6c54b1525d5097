//! What the User-Agent says: crawlers and scripts (which never consume pool numbers) and device class.

/// Lowercase markers of crawlers, headless browsers and HTTP libraries.
///
/// HeadlessChrome counts as a bot; the browser test sets a regular Chrome user agent
/// (`--user-agent`) instead of relying on a server-side test hook.
const BOT_MARKERS: &[&str] = &[
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "mediapartners-google",
    "yandexbot",
    "yandex.com/bots",
    "bingbot",
    "ahrefsbot",
    "semrushbot",
    "mj12bot",
    "dotbot",
    "petalbot",
    "bytespider",
    "applebot",
    "duckduckbot",
    "baiduspider",
    "facebookexternalhit",
    "slurp",
    "crawler",
    "spider",
    "bot/",
    "bot;",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
    "ureq/",
    "reqwest/",
    "httpx",
    "node-fetch",
];

/// A crawler, a headless browser or a script; a missing or blank user agent counts as one.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return true;
    };
    let ua = ua.to_ascii_lowercase();
    BOT_MARKERS.iter().any(|marker| ua.contains(marker))
}

/// "mobile", "tablet" or "desktop".
pub fn device(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or_default().to_ascii_lowercase();
    let android = ua.contains("android");
    if ua.contains("ipad") || ua.contains("tablet") || (android && !ua.contains("mobile")) {
        "tablet"
    } else if android || ua.contains("mobi") || ua.contains("iphone") {
        "mobile"
    } else {
        "desktop"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

    #[test]
    fn crawlers_scripts_and_blank_agents_are_bots() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/124.0 Safari/537.36",
            "curl/8.5.0",
            "Wget/1.21",
            "python-requests/2.31",
            "",
            "   ",
        ] {
            assert!(is_bot(Some(ua)), "{ua}");
        }
        assert!(is_bot(None));
    }

    #[test]
    fn browsers_are_not_bots() {
        assert!(!is_bot(Some(CHROME)));
        let cubot = "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36";
        assert!(!is_bot(Some(cubot)));
        assert_eq!(device(Some(cubot)), "mobile");
    }

    #[test]
    fn device_classes() {
        assert_eq!(device(Some(CHROME)), "desktop");
        assert_eq!(
            device(Some("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")),
            "tablet"
        );
        assert_eq!(
            device(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)")),
            "mobile"
        );
        assert_eq!(
            device(Some("Mozilla/5.0 (Linux; Android 13; SM-X200)")),
            "tablet"
        );
    }
}
