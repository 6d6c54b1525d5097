//! The shapes `demo-data` draws from: ad sources with their shares, campaigns, keywords and
//! daily budgets, landing pages, regions, devices, time of day, answer rates and talk times,
//! roughly as a small Russian retailer's call tracking looks.

use rand::Rng;
use rand::rngs::StdRng;

/// One ad channel.
pub struct Channel {
    pub source: &'static str,
    pub medium: &'static str,
    /// Relative share of calls.
    pub weight: u32,
    /// `(campaign, weight)`; empty for organic and direct traffic.
    pub campaigns: &'static [(&'static str, u32)],
    /// Keywords (paid search only).
    pub terms: &'static [&'static str],
    /// `dynamic`, `static` or `default`.
    pub number_kind: &'static str,
    /// Daily spend per campaign, in roubles (0: free traffic).
    pub daily_budget_rub: i64,
}

pub const CHANNELS: &[Channel] = &[
    Channel {
        source: "yandex",
        medium: "cpc",
        weight: 30,
        campaigns: &[
            ("brand", 3),
            ("generic_search", 5),
            ("rsya_network", 3),
            ("retargeting", 1),
        ],
        terms: &[
            "купить диван",
            "диван недорого",
            "угловой диван",
            "мебель москва",
            "диван кровать",
            "shopname",
        ],
        number_kind: "dynamic",
        daily_budget_rub: 9000,
    },
    Channel {
        source: "google",
        medium: "cpc",
        weight: 22,
        campaigns: &[
            ("brand", 2),
            ("generic_search", 4),
            ("shopping", 3),
            ("remarketing", 1),
        ],
        terms: &[
            "buy sofa",
            "sofa bed",
            "corner sofa",
            "furniture store",
            "sofa delivery",
        ],
        number_kind: "dynamic",
        daily_budget_rub: 7000,
    },
    Channel {
        source: "yandex",
        medium: "organic",
        weight: 12,
        campaigns: &[],
        terms: &[],
        number_kind: "dynamic",
        daily_budget_rub: 0,
    },
    Channel {
        source: "google",
        medium: "organic",
        weight: 9,
        campaigns: &[],
        terms: &[],
        number_kind: "dynamic",
        daily_budget_rub: 0,
    },
    Channel {
        source: "(direct)",
        medium: "(none)",
        weight: 12,
        campaigns: &[],
        terms: &[],
        number_kind: "default",
        daily_budget_rub: 0,
    },
    Channel {
        source: "vk",
        medium: "social",
        weight: 6,
        campaigns: &[("winter_sale", 2), ("lookalike", 1)],
        terms: &[],
        number_kind: "dynamic",
        daily_budget_rub: 3000,
    },
    Channel {
        source: "2gis",
        medium: "referral",
        weight: 4,
        campaigns: &[("listing", 1)],
        terms: &[],
        number_kind: "static",
        daily_budget_rub: 800,
    },
    Channel {
        source: "billboard",
        medium: "offline",
        weight: 5,
        campaigns: &[("mkad_km42", 1), ("metro_ring", 1)],
        terms: &[],
        number_kind: "static",
        daily_budget_rub: 2500,
    },
];

pub const LANDING_PAGES: &[(&str, u32)] = &[
    ("/", 30),
    ("/catalog/sofas", 25),
    ("/catalog/beds", 12),
    ("/promo/winter", 15),
    ("/delivery", 8),
    ("/contacts", 10),
];

pub const REGIONS: &[(&str, u32)] = &[
    ("Moscow", 45),
    ("Moscow Oblast", 18),
    ("Saint Petersburg", 12),
    ("Kazan", 5),
    ("Yekaterinburg", 5),
    ("Novosibirsk", 4),
    ("Nizhny Novgorod", 4),
    ("Krasnodar", 4),
    ("Samara", 3),
];

pub const DEVICES: &[(&str, u32)] = &[("mobile", 62), ("desktop", 33), ("tablet", 5)];

/// Calls per local hour of day (0..23), business hours heavy.
pub const HOUR_WEIGHTS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 4, 8, 14, 20, 24, 24, 22, 22, 23, 22, 20, 18, 14, 10, 8, 5, 3, 2,
];

/// Picks an index by weight.
pub fn pick<T>(rng: &mut StdRng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if roll < w {
            return i;
        }
        roll -= w;
    }
    items.len().saturating_sub(1)
}

/// A picked `(value, weight)` entry.
pub fn pick_pair(rng: &mut StdRng, items: &[(&'static str, u32)]) -> &'static str {
    items[pick(rng, items, |(_, w)| *w)].0
}

/// Talk seconds, roughly log-normal around 1.5 minutes, some very short ones.
pub fn talk_secs(rng: &mut StdRng) -> i64 {
    if rng.random_bool(0.15) {
        return rng.random_range(3..30);
    }
    let base: f64 = rng.random_range(0.0f64..1.0).powi(2);
    30 + (base * 600.0) as i64 + rng.random_range(0..60)
}
