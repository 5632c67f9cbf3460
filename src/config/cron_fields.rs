//! What is wrong with a cron expression, said by field: croner's own errors
//! ("Component error: Number out of bounds.") name neither the field nor
//! what it allows.

/// One field of a cron expression: its name and the numbers it allows.
struct Field {
    name: &'static str,
    low: u32,
    high: u32,
    /// What else it accepts besides numbers.
    also: &'static str,
}

const SECOND: Field = Field {
    name: "second",
    low: 0,
    high: 59,
    also: "",
};
const FIVE: [Field; 5] = [
    Field {
        name: "minute",
        low: 0,
        high: 59,
        also: "",
    },
    Field {
        name: "hour",
        low: 0,
        high: 23,
        also: "",
    },
    Field {
        name: "day of month",
        low: 1,
        high: 31,
        also: ", L, W",
    },
    Field {
        name: "month",
        low: 1,
        high: 12,
        also: ", JAN-DEC",
    },
    Field {
        name: "day of week",
        low: 0,
        high: 7,
        also: ", SUN-SAT (0 and 7 are Sunday), L, #",
    },
];

/// Why croner refused `pattern`, by field: the wrong number of fields, a
/// number outside its field's range, or the field croner could not read.
/// `None` when no single field is to blame.
pub(crate) fn explain(pattern: &str) -> Option<String> {
    let parts: Vec<&str> = pattern.split_whitespace().collect();
    let fields: Vec<&Field> = match parts.len() {
        5 => FIVE.iter().collect(),
        6 => std::iter::once(&SECOND).chain(FIVE.iter()).collect(),
        n => {
            return Some(format!(
                "has {n} fields; expected 5 (minute hour day-of-month month day-of-week) \
                 or 6 (a second first)"
            ))
        }
    };
    for (i, (part, field)) in parts.iter().zip(&fields).enumerate() {
        let at = format!("field {} ({})", i + 1, field.name);
        if let Some(n) = numbers(part).find(|n| *n < field.low || *n > field.high) {
            return Some(format!("{at} is {n}; allowed {}-{}", field.low, field.high));
        }
        if !alone_parses(i, parts.len(), part) {
            return Some(format!(
                "{at} {} is not valid; allowed {}-{}{}, *, ranges a-b, steps /n, lists a,b",
                crate::echo::echo(part),
                field.low,
                field.high,
                field.also
            ));
        }
    }
    None
}

/// The values a field names (not its steps): `1-5/2,9` names 1, 5 and 9.
fn numbers(part: &str) -> impl Iterator<Item = u32> + '_ {
    part.split(',')
        .map(|item| item.split('/').next().unwrap_or_default())
        .flat_map(|range| range.split('-'))
        .map(|value| value.split('#').next().unwrap_or_default())
        .filter_map(|value| value.parse().ok())
}

/// Whether croner reads `part` as field `index` of `count`, every other
/// field a `*`: tells which field it stumbled on.
fn alone_parses(index: usize, count: usize, part: &str) -> bool {
    let mut fields = vec!["*"; count];
    fields[index] = part;
    croner::Cron::new(&fields.join(" "))
        .with_seconds_optional()
        .parse()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn a_field_is_named_with_what_it_allows() {
        let said = |p: &str| explain(p).unwrap_or_default();
        assert_eq!(said("0 25 * * 4"), "field 2 (hour) is 25; allowed 0-23");
        assert_eq!(
            said("0 6 * * 2-9/2"),
            "field 5 (day of week) is 9; allowed 0-7"
        );
        assert!(
            said("0 6 * FOO *").starts_with("field 4 (month) \"FOO\" is not valid"),
            "{}",
            said("0 6 * FOO *")
        );
        assert!(said("* *").starts_with("has 2 fields"));
        assert_eq!(explain("0 6 * * 4"), None);
    }
}
