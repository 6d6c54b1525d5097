#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Which number a visitor sees: rule order, wildcards, organic vs paid, region preference,
//! time-of-day windows, number formatting, and region lookup from a small MaxMind database
//! built here plus the CIDR table.

use std::net::IpAddr;
use std::path::Path;

use calltrack::config::{Config, GeoConfig, SiteConfig};
use calltrack::display::{Choice, GeoResolver, choose, format_number};
use calltrack::lease::Visit;
use jiff::Timestamp;
use maxminddb_writer::Database;
use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;

const NOON_UTC: Timestamp = Timestamp::constant(1772452800, 0) /* 2026-03-02T12:00:00Z */;

/// A site with three pools (one without region, two regional), a static number and `rules`.
fn site(rules: &str) -> SiteConfig {
    let text = format!(
        r#"
[[sites]]
id = "shop"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"
origins = ["https://shop.example"]
utc_offset = "+03:00"

[[sites.static_numbers]]
number = "74950000001"
source = "radio"

[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000109"]

[[sites.pools]]
id = "web-msk"
numbers = ["74950000200-74950000209"]
region = "Moscow"

[[sites.pools]]
id = "web-spb"
numbers = ["74950000300-74950000309"]
region = "saint petersburg"
{rules}
"#
    );
    let config = Config::from_toml_str(&text).unwrap();
    config.site("shop").unwrap().clone()
}

fn visit(page: &str, referrer: Option<&str>) -> Visit {
    Visit::from_page(page, referrer)
}

fn in_region(visit: &Visit, region: &str) -> Visit {
    let mut fields = visit.to_fields();
    fields.region = Some(region.into());
    fields.into()
}

fn pools(ids: &[&str]) -> Choice {
    Choice::Pools(ids.iter().map(|id| (*id).to_owned()).collect())
}

const ALL_POOLS: [&str; 3] = ["web", "web-msk", "web-spb"];

#[test]
fn first_matching_rule_wins() {
    let site = site(
        r#"
[[sites.rules]]
utm_source = ["google"]
utm_medium = ["cpc"]
number = "74950000001"

[[sites.rules]]
utm_source = ["google"]
pools = ["web-spb"]

[[sites.rules]]
utm_source = ["*"]
default = true
"#,
    );
    let cpc = visit(
        "https://shop.example/?utm_source=google&utm_medium=cpc",
        None,
    );
    assert_eq!(
        choose(&site, &cpc, NOON_UTC),
        Choice::Static("74950000001".into())
    );
    let other = visit(
        "https://shop.example/?utm_source=Google&utm_medium=email",
        None,
    );
    assert_eq!(choose(&site, &other, NOON_UTC), pools(&["web-spb"]));
    let bing = visit("https://shop.example/?utm_source=bing", None);
    assert_eq!(choose(&site, &bing, NOON_UTC), Choice::Default);
}

#[test]
fn wildcards_match_case_insensitively_on_host_path_and_tags() {
    let site = site(
        r#"
[[sites.rules]]
referrer_host = ["*.google.*"]
landing_path = ["/promo/*"]
pools = ["web"]

[[sites.rules]]
utm_campaign = ["brand*"]
number = "74950000001"
"#,
    );
    let promo = visit(
        "https://shop.example/Promo/spring?x=1",
        Some("https://WWW.Google.co.uk/search?q=shoes"),
    );
    assert_eq!(choose(&site, &promo, NOON_UTC), pools(&["web"]));
    // Same referrer, other page: rule 1 fails; organic search without tags -> default.
    let home = visit("https://shop.example/", Some("https://www.google.com/"));
    assert_eq!(choose(&site, &home, NOON_UTC), Choice::Default);
    let brand = visit("https://shop.example/?utm_campaign=BRAND_spring", None);
    assert_eq!(
        choose(&site, &brand, NOON_UTC),
        Choice::Static("74950000001".into())
    );
    // A condition on a missing value does not hold.
    let untagged = visit("https://shop.example/promo/x", None);
    assert_eq!(choose(&site, &untagged, NOON_UTC), Choice::Default);
}

#[test]
fn without_a_matching_rule_organic_sees_default_and_paid_sees_pools() {
    let site = site("");
    for (page, referrer) in [
        ("https://shop.example/", None),
        (
            "https://shop.example/",
            Some("https://yandex.ru/search/?text=x"),
        ),
        ("https://shop.example/", Some("https://duckduckgo.com/")),
        ("https://shop.example/b", Some("https://shop.example/a")),
        // The site's own host counts as direct even when the landing page is elsewhere.
        ("https://m.shop-cdn.example/", Some("https://shop.example/")),
    ] {
        let v = visit(page, referrer);
        assert_eq!(choose(&site, &v, NOON_UTC), Choice::Default, "{referrer:?}");
    }
    for (page, referrer) in [
        ("https://shop.example/?utm_source=newsletter", None),
        (
            "https://shop.example/?gclid=abc",
            Some("https://www.google.com/"),
        ),
        ("https://shop.example/?yclid=123", None),
        ("https://shop.example/", Some("https://blog.example/review")),
    ] {
        let v = visit(page, referrer);
        assert_eq!(choose(&site, &v, NOON_UTC), pools(&ALL_POOLS), "{page}");
    }
}

#[test]
fn pools_prefer_the_visitors_region_then_pools_without_region() {
    let site = site(
        r#"
[[sites.rules]]
utm_source = ["yandex"]
pools = ["web-spb", "web-msk"]
"#,
    );
    let mut paid = visit("https://shop.example/?utm_source=google", None);
    assert_eq!(choose(&site, &paid, NOON_UTC), pools(&ALL_POOLS));
    paid = in_region(&paid, "moscow");
    assert_eq!(
        choose(&site, &paid, NOON_UTC),
        pools(&["web-msk", "web", "web-spb"])
    );
    paid = in_region(&paid, "Saint Petersburg");
    assert_eq!(
        choose(&site, &paid, NOON_UTC),
        pools(&["web-spb", "web", "web-msk"])
    );
    paid = in_region(&paid, "kazan");
    assert_eq!(choose(&site, &paid, NOON_UTC), pools(&ALL_POOLS));
    let mut yandex = visit("https://shop.example/?utm_source=yandex", None);
    assert_eq!(
        choose(&site, &yandex, NOON_UTC),
        pools(&["web-spb", "web-msk"])
    );
    yandex = in_region(&yandex, "moscow");
    assert_eq!(
        choose(&site, &yandex, NOON_UTC),
        pools(&["web-msk", "web-spb"])
    );
}

#[test]
fn region_condition() {
    let site = site(
        r#"
[[sites.rules]]
region = ["saint *"]
number = "74950000001"
"#,
    );
    let mut v = visit("https://shop.example/", None);
    assert_eq!(choose(&site, &v, NOON_UTC), Choice::Default);
    v = in_region(&v, "saint petersburg");
    assert_eq!(
        choose(&site, &v, NOON_UTC),
        Choice::Static("74950000001".into())
    );
}

#[test]
fn time_of_day_uses_the_site_offset_and_wraps_midnight() {
    // Site is UTC+3: the night window 22:00-06:00 local is 19:00-03:00 UTC.
    let site = site(
        r#"
[[sites.rules]]
time_of_day = "22:00-06:00"
default = true

[[sites.rules]]
time_of_day = "09:00-21:00"
pools = ["web"]
"#,
    );
    let paid = visit("https://shop.example/?utm_source=google", None);
    for (now, expected) in [
        (ts("2026-03-02T19:00:00Z"), Choice::Default),
        (ts("2026-03-02T23:30:00Z"), Choice::Default),
        (ts("2026-03-03T02:59:00Z"), Choice::Default),
        (ts("2026-03-03T03:00:00Z"), pools(&ALL_POOLS)),
        (ts("2026-03-02T06:00:00Z"), pools(&["web"])),
        (ts("2026-03-02T17:59:00Z"), pools(&["web"])),
        (ts("2026-03-02T18:00:00Z"), pools(&ALL_POOLS)),
    ] {
        assert_eq!(choose(&site, &paid, now), expected, "{now}");
    }
}

#[test]
fn a_site_without_pools_shows_its_default() {
    let text = "[[sites]]\nid = \"s\"\nforward_to = \"sip:127.0.0.1\"\n";
    let config = Config::from_toml_str(text).unwrap();
    let paid = visit("https://s.example/?utm_source=google", None);
    assert_eq!(choose(&config.sites[0], &paid, NOON_UTC), Choice::Default);
}

#[test]
fn format_number_cases() {
    for (digits, shown) in [
        ("74950000001", "+7 (495) 000-00-01"),
        ("+79161234567", "+7 (916) 123-45-67"),
        ("77172123456", "+7 (717) 212-34-56"),
        ("12125550123", "+1 212 555 0123"),
        ("442079460958", "+44 20 7946 0958"),
        ("447911123456", "+44 7911 123456"),
        ("380441234567", "+380 44 123 45 67"),
        ("375291234567", "+375 29 123 45 67"),
        ("4930123456", "+49 301 234 56"),
        ("33123456789", "+33 123 456 789"),
        ("8613812345678", "+86 138 123 456 78"),
        ("3726123456", "+372 612 3456"),
        ("12345", "12345"),
        ("7495abc0001", "7495abc0001"),
        ("", ""),
    ] {
        assert_eq!(format_number(digits), shown, "{digits}");
    }
}

// ---- region lookup ----------------------------------------------------------------------

#[derive(Serialize)]
struct Names {
    en: &'static str,
}

#[derive(Serialize)]
struct Named {
    names: Names,
}

#[derive(Serialize)]
struct IsoCode {
    iso_code: &'static str,
}

/// The part of a GeoIP2 City/Country record that calltrack reads.
#[derive(Serialize)]
struct Record {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<Named>,
    country: IsoCode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<Named>,
}

fn named(en: &'static str) -> Named {
    Named {
        names: Names { en },
    }
}

/// Writes an IPv4 MaxMind database with one record per network.
fn write_mmdb(path: &Path, database_type: &str, records: Vec<(&str, Record)>) {
    let mut db = Database::default();
    db.metadata.ip_version = IpVersion::V4;
    db.metadata.database_type = database_type.to_owned();
    db.metadata.binary_format_major_version = 2;
    db.metadata.languages = vec!["en".to_owned()];
    for (network, record) in records {
        let data = db.insert_value(record).unwrap();
        db.insert_node(network.parse::<IpAddrWithMask>().unwrap(), data);
    }
    let file = std::fs::File::create(path).unwrap();
    db.write_to(std::io::BufWriter::new(file)).unwrap();
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn networks(list: &[(&str, &str)]) -> Vec<(ipnet::IpNet, String)> {
    list.iter()
        .map(|(net, region)| (net.parse().unwrap(), (*region).to_owned()))
        .collect()
}

#[test]
fn region_from_a_city_database_then_the_cidr_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("City.mmdb");
    write_mmdb(
        &path,
        "GeoLite2-City",
        vec![
            (
                "81.2.69.0/24",
                Record {
                    city: Some(named("Moscow")),
                    country: IsoCode { iso_code: "RU" },
                    subdivisions: vec![named("Moscow Oblast"), named("ignored")],
                },
            ),
            (
                "81.2.70.0/24",
                Record {
                    city: Some(named("Kazan")),
                    country: IsoCode { iso_code: "RU" },
                    subdivisions: Vec::new(),
                },
            ),
            (
                "81.2.71.0/24",
                Record {
                    city: None,
                    country: IsoCode { iso_code: "DE" },
                    subdivisions: Vec::new(),
                },
            ),
        ],
    );
    let geo = GeoResolver::open(&GeoConfig {
        mmdb_path: Some(path),
        networks: networks(&[("81.2.69.0/24", "table"), ("10.0.0.0/8", "russia")]),
    })
    .unwrap();
    assert_eq!(
        geo.region(ip("81.2.69.7")).as_deref(),
        Some("moscow oblast")
    );
    assert_eq!(
        geo.region(ip("::ffff:81.2.69.7")).as_deref(),
        Some("moscow oblast")
    );
    assert_eq!(geo.region(ip("81.2.70.1")).as_deref(), Some("kazan"));
    assert_eq!(geo.region(ip("81.2.71.1")).as_deref(), Some("de"));
    // Not in the database: the table answers; an IPv6 address in an IPv4 database too.
    assert_eq!(geo.region(ip("10.9.9.9")).as_deref(), Some("russia"));
    assert_eq!(geo.region(ip("192.0.2.1")), None);
    assert_eq!(geo.region(ip("2001:db8::1")), None);
}

#[test]
fn region_from_a_country_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Country.mmdb");
    write_mmdb(
        &path,
        "GeoLite2-Country",
        vec![(
            "81.2.0.0/16",
            Record {
                city: None,
                country: IsoCode { iso_code: "GB" },
                subdivisions: Vec::new(),
            },
        )],
    );
    let geo = GeoResolver::open(&GeoConfig {
        mmdb_path: Some(path),
        networks: Vec::new(),
    })
    .unwrap();
    assert_eq!(geo.region(ip("81.2.3.4")).as_deref(), Some("gb"));
}

#[test]
fn cidr_table_longest_prefix_wins() {
    let geo = GeoResolver::open(&GeoConfig {
        mmdb_path: None,
        networks: networks(&[
            ("10.0.0.0/8", "russia"),
            ("10.1.0.0/16", "moscow"),
            ("10.1.2.0/24", "moscow-office"),
            ("2001:db8::/32", "v6-net"),
        ]),
    })
    .unwrap();
    assert_eq!(geo.region(ip("10.1.2.3")).as_deref(), Some("moscow-office"));
    assert_eq!(geo.region(ip("10.1.9.9")).as_deref(), Some("moscow"));
    assert_eq!(geo.region(ip("10.200.0.1")).as_deref(), Some("russia"));
    assert_eq!(geo.region(ip("::ffff:10.1.9.9")).as_deref(), Some("moscow"));
    assert_eq!(geo.region(ip("2001:db8::5")).as_deref(), Some("v6-net"));
    assert_eq!(geo.region(ip("11.0.0.1")), None);
}

#[test]
fn opening_a_broken_database_is_an_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"not a database").unwrap();
    let err = GeoResolver::open(&GeoConfig {
        mmdb_path: Some(file.path().to_owned()),
        networks: Vec::new(),
    })
    .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot open MaxMind database"),
        "{err}"
    );
}

#[test]
fn the_reason_names_what_decided() {
    use calltrack::display::{Reason, choose_with_reason};
    let site = site(
        r#"
[[sites.rules]]
utm_source = ["radio"]
number = "74950000001"
"#,
    );
    let reason =
        |site: &SiteConfig, page: &str| choose_with_reason(site, &visit(page, None), NOON_UTC).1;
    assert_eq!(
        reason(&site, "https://shop.example/?utm_source=radio"),
        Reason::Rule
    );
    assert_eq!(reason(&site, "https://shop.example/"), Reason::Direct);
    assert_eq!(
        reason(&site, "https://shop.example/?utm_source=bing"),
        Reason::Pool
    );
    let config = Config::from_toml_str(
        r#"
[[sites]]
id = "nopools"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"
"#,
    )
    .unwrap();
    let bare = config.site("nopools").unwrap();
    assert_eq!(
        reason(bare, "https://x.example/?utm_source=bing"),
        Reason::NoPools
    );
    assert_eq!(Reason::PoolExhausted.as_str(), "pool_exhausted");
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("test timestamp")
}
