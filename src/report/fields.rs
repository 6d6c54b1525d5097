//! The group-by fields of a report: attribution columns the store groups by, and local-time
//! fields derived from each call's UTC bucket in its site's time zone.

use std::fmt;

/// One field a report can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupField {
    Source,
    Medium,
    Campaign,
    Term,
    LandingPage,
    Region,
    Device,
    TrackingNumber,
    NumberKind,
    Site,
    Day,
    Week,
    Month,
    Hour,
    Weekday,
}

impl GroupField {
    /// Every field, in the order help texts list them.
    pub const ALL: [GroupField; 15] = [
        GroupField::Source,
        GroupField::Medium,
        GroupField::Campaign,
        GroupField::Term,
        GroupField::LandingPage,
        GroupField::Region,
        GroupField::Device,
        GroupField::TrackingNumber,
        GroupField::NumberKind,
        GroupField::Site,
        GroupField::Day,
        GroupField::Week,
        GroupField::Month,
        GroupField::Hour,
        GroupField::Weekday,
    ];

    /// The name used on the command line, in the API and as the row key.
    pub fn name(self) -> &'static str {
        match self {
            GroupField::Source => "source",
            GroupField::Medium => "medium",
            GroupField::Campaign => "campaign",
            GroupField::Term => "term",
            GroupField::LandingPage => "landing_page",
            GroupField::Region => "region",
            GroupField::Device => "device",
            GroupField::TrackingNumber => "tracking_number",
            GroupField::NumberKind => "number_kind",
            GroupField::Site => "site",
            GroupField::Day => "day",
            GroupField::Week => "week",
            GroupField::Month => "month",
            GroupField::Hour => "hour",
            GroupField::Weekday => "weekday",
        }
    }

    /// Parses one field name.
    pub fn parse(name: &str) -> Option<GroupField> {
        GroupField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the field comes from the call's local time rather than a stored column.
    pub fn is_time(self) -> bool {
        matches!(
            self,
            GroupField::Day
                | GroupField::Week
                | GroupField::Month
                | GroupField::Hour
                | GroupField::Weekday
        )
    }

    /// The stored column (on calls and leads) a non-time field groups by; `site` is handled
    /// by the store for every fact anyway.
    pub fn column(self) -> Option<&'static str> {
        if self.is_time() {
            None
        } else {
            Some(self.name())
        }
    }

    /// Whether ad costs (kept per day, site, source, medium and campaign) can be split by it;
    /// costs show under an empty key for the other fields.
    pub fn splits_costs(self) -> bool {
        matches!(
            self,
            GroupField::Source
                | GroupField::Medium
                | GroupField::Campaign
                | GroupField::Site
                | GroupField::Day
                | GroupField::Week
                | GroupField::Month
                | GroupField::Weekday
        )
    }

    /// "source, medium, ..." for error messages.
    pub fn allowed() -> String {
        GroupField::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for GroupField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `source,campaign`: every unknown or repeated name is one problem.
pub fn parse_list(text: &str) -> Result<Vec<GroupField>, Vec<String>> {
    let mut fields = Vec::new();
    let mut problems = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match GroupField::parse(name) {
            Some(field) if fields.contains(&field) => {
                problems.push(format!("by: {name:?} is listed twice"));
            }
            Some(field) => fields.push(field),
            None => problems.push(format!(
                "by: unknown field {name:?}; allowed: {}",
                GroupField::allowed()
            )),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_lists_allowed() {
        for field in GroupField::ALL {
            assert_eq!(GroupField::parse(field.name()), Some(field));
        }
        assert_eq!(
            parse_list("source, campaign").unwrap(),
            vec![GroupField::Source, GroupField::Campaign]
        );
        let problems = parse_list("source,colour,source").unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("landing_page, region"), "{problems:?}");
        assert!(parse_list("").unwrap().is_empty());
    }
}
