//! A deal a CRM posts on a call or a lead: an amount of money, its currency and how the deal
//! stands. Kept in minor units (kopecks, cents) so sums are exact; revenue in reports is the
//! sum of `won` deals.

use serde::{Deserialize, Serialize};

/// Decimal places every amount is kept with. Two fits RUB, USD, EUR and most currencies;
/// an amount with more places is refused rather than rounded.
pub const MINOR_DIGITS: u32 = 2;

/// Where a deal stands. Only `won` deals count as revenue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl DealStatus {
    /// The stored and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }

    /// Reads the stored spelling back.
    pub fn parse(text: &str) -> Option<DealStatus> {
        match text {
            "open" => Some(DealStatus::Open),
            "won" => Some(DealStatus::Won),
            "lost" => Some(DealStatus::Lost),
            _ => None,
        }
    }
}

/// A deal as stored: amount in minor units, ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    pub amount_minor: i64,
    pub currency: String,
    pub status: DealStatus,
}

/// A deal as the API reads and writes it: `amount` is a decimal string or number with at
/// most two places (`"1500.50"`, `1500.5`, `1500`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealView {
    #[schema(value_type = String, example = "1500.50")]
    pub amount: serde_json::Value,
    #[schema(example = "RUB")]
    pub currency: String,
    pub status: DealStatus,
}

/// Why a deal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealError {
    #[error("deal.amount: {0:?} is not a decimal amount with at most two places")]
    Amount(String),
    #[error("deal.currency: {0:?} is not a three-letter ISO 4217 code")]
    Currency(String),
}

impl Deal {
    /// Checks and converts what the API received.
    pub fn from_view(view: &DealView) -> Result<Deal, DealError> {
        let text = match &view.amount {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(DealError::Amount(other.to_string())),
        };
        Ok(Deal {
            amount_minor: parse_minor(&text).ok_or(DealError::Amount(text))?,
            currency: check_currency(&view.currency)?,
            status: view.status,
        })
    }

    /// The deal kept in a row's three columns, when all three are set and the status reads.
    pub fn from_columns(
        amount_minor: Option<i64>,
        currency: Option<String>,
        status: Option<&str>,
    ) -> Option<Deal> {
        Some(Deal {
            amount_minor: amount_minor?,
            currency: currency?,
            status: DealStatus::parse(status?)?,
        })
    }

    /// The API form, amount as a decimal string (`"1500.50"`).
    pub fn to_view(&self) -> DealView {
        DealView {
            amount: serde_json::Value::String(format_minor(self.amount_minor)),
            currency: self.currency.clone(),
            status: self.status,
        }
    }
}

/// `"1500.5"` → 150050; `"-3"` → -300; `None` for anything else, more than two places, or
/// an amount that does not fit.
pub fn parse_minor(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if fraction.len() > MINOR_DIGITS as usize || (digits.contains('.') && fraction.is_empty()) {
        return None;
    }
    let scale = 10i64.pow(MINOR_DIGITS - fraction.len() as u32);
    let minor = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(10i64.pow(MINOR_DIGITS))?
        .checked_add(fraction.parse::<i64>().unwrap_or(0).checked_mul(scale)?)?;
    Some(if negative { -minor } else { minor })
}

/// 150050 → `"1500.50"`.
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let unit = 10u64.pow(MINOR_DIGITS);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = MINOR_DIGITS as usize
    )
}

/// Upper-cases a three-letter currency code or refuses it.
pub fn check_currency(code: &str) -> Result<String, DealError> {
    let code = code.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(DealError::Currency(code.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_and_print_back() {
        assert_eq!(parse_minor("1500.5"), Some(150_050));
        assert_eq!(parse_minor("1500.50"), Some(150_050));
        assert_eq!(parse_minor("1500"), Some(150_000));
        assert_eq!(parse_minor("-3.07"), Some(-307));
        assert_eq!(parse_minor("0.1"), Some(10));
        for bad in [
            "",
            "1.234",
            "1.",
            ".5",
            "1e3",
            "abc",
            "1,5",
            "--1",
            "99999999999999999999",
        ] {
            assert_eq!(parse_minor(bad), None, "{bad}");
        }
        assert_eq!(format_minor(150_050), "1500.50");
        assert_eq!(format_minor(-307), "-3.07");
        assert_eq!(format_minor(5), "0.05");
    }

    #[test]
    fn a_view_with_a_number_amount_converts() {
        let view: DealView =
            serde_json::from_str(r#"{"amount": 1500.5, "currency": "rub", "status": "won"}"#)
                .unwrap();
        let deal = Deal::from_view(&view).unwrap();
        assert_eq!(deal.amount_minor, 150_050);
        assert_eq!(deal.currency, "RUB");
        assert_eq!(deal.to_view().amount, serde_json::json!("1500.50"));
        let bad = DealView {
            currency: "RUBLE".into(),
            ..view
        };
        assert!(matches!(Deal::from_view(&bad), Err(DealError::Currency(_))));
    }
}
