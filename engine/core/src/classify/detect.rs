//! Content detectors: what kind of personal or payment data a text value is (or holds).
//!
//! Each detector checks structure, and a checksum where the format has one (Luhn for card
//! numbers, ISO 7064 mod 97 for IBANs, the SSA's rules for US SSNs), so that order ids or
//! amounts that merely look like numbers are not taken for card numbers.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A kind of sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
    DateOfBirth,
    PersonName,
}

impl Detector {
    pub const ALL: [Detector; 9] = [
        Detector::Email,
        Detector::Phone,
        Detector::CreditCard,
        Detector::Iban,
        Detector::UsSsn,
        Detector::Ipv4,
        Detector::Ipv6,
        Detector::DateOfBirth,
        Detector::PersonName,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::CreditCard => "credit_card",
            Detector::Iban => "iban",
            Detector::UsSsn => "us_ssn",
            Detector::Ipv4 => "ipv4",
            Detector::Ipv6 => "ipv6",
            Detector::DateOfBirth => "date_of_birth",
            Detector::PersonName => "person_name",
        }
    }

    pub fn parse(s: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The classification a column holding such values should carry: `pci` for card
    /// numbers (PCI DSS), `pii` for the rest.
    pub fn classification(self) -> &'static str {
        match self {
            Detector::CreditCard => "pci",
            _ => "pii",
        }
    }

    /// Whether the whole `value` is one such value. `column` helps where content alone
    /// cannot tell (a date is a date of birth only in a column named so).
    pub fn is(self, value: &str, column: &str) -> bool {
        let v = value.trim();
        match self {
            Detector::Email => EMAIL.is_match(v) && full(&EMAIL, v),
            Detector::Phone => phone(v),
            Detector::CreditCard => card(v),
            Detector::Iban => iban(v),
            Detector::UsSsn => ssn(v),
            Detector::Ipv4 => v.parse::<std::net::Ipv4Addr>().is_ok(),
            Detector::Ipv6 => v.contains(':') && v.parse::<std::net::Ipv6Addr>().is_ok(),
            Detector::DateOfBirth => birth_column(column) && birth_date(v),
            Detector::PersonName => person_name(v),
        }
    }

    /// Whether free `text` holds such a value anywhere (for the `pii_scan` rule).
    pub fn within(self, text: &str) -> bool {
        match self {
            Detector::Email => EMAIL.is_match(text),
            Detector::Phone => PHONE_IN
                .find_iter(text)
                .any(|m| bounded(text, &m) && phone(m.as_str())),
            Detector::CreditCard => CARD_IN
                .find_iter(text)
                .any(|m| bounded(text, &m) && card(m.as_str())),
            Detector::Iban => IBAN_IN
                .find_iter(text)
                .any(|m| bounded(text, &m) && iban(m.as_str())),
            Detector::UsSsn => SSN_IN
                .find_iter(text)
                .any(|m| bounded(text, &m) && ssn(m.as_str())),
            Detector::Ipv4 => IPV4_IN
                .find_iter(text)
                .any(|m| m.as_str().parse::<std::net::Ipv4Addr>().is_ok()),
            Detector::Ipv6 => text
                .split(|c: char| c.is_whitespace() || ",;()[]\"'".contains(c))
                .any(|w| w.matches(':').count() >= 2 && w.parse::<std::net::Ipv6Addr>().is_ok()),
            Detector::DateOfBirth => false,
            Detector::PersonName => {
                let words: Vec<&str> = text.split_whitespace().collect();
                words
                    .windows(2)
                    .any(|w| person_name(&format!("{} {}", w[0], w[1])))
            }
        }
    }
}

/// A match standing on its own: not part of a longer id (a UUID's digit groups, a
/// timestamp's fraction, `ORD-1234-5678`).
fn bounded(text: &str, m: &regex::Match<'_>) -> bool {
    let joined = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "-_.:/".contains(c));
    !joined(text[..m.start()].chars().next_back()) && !joined(text[m.end()..].chars().next())
}

fn full(re: &Regex, v: &str) -> bool {
    re.find(v)
        .is_some_and(|m| m.start() == 0 && m.end() == v.len())
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").unwrap()
});
static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})([ T].*)?$").unwrap()
});
static PHONE_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d\s().\-]{6,18}\d").unwrap());
static CARD_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ \-]?\d){12,18}\b").unwrap());
static IBAN_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b").unwrap());
static SSN_IN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{3}-\d{2}-\d{4}\b").unwrap());
static IPV4_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b").unwrap());

fn digits(v: &str) -> String {
    v.chars().filter(char::is_ascii_digit).collect()
}

/// An international (+CC) or national number with separators: 8 to 15 digits (E.164),
/// only digits, spaces, dashes, dots and parentheses.
fn phone(v: &str) -> bool {
    if DATE_LIKE.is_match(v) {
        return false;
    }
    let d = digits(v);
    let chars_ok = v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    let grouped = v.starts_with('+') || v.contains(' ') || v.contains('-') || v.starts_with('(');
    chars_ok && grouped && (8..=15).contains(&d.len()) && !v[1..].contains('+')
}

/// 13 to 19 digits (spaces or dashes allowed), passing the Luhn checksum, with a card
/// network's leading digit (2-6).
fn card(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let d = digits(v);
    if !(13..=19).contains(&d.len()) || !matches!(d.as_bytes()[0], b'2'..=b'6') {
        return false;
    }
    let sum: u32 = d
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let n = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = n * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                n
            }
        })
        .sum();
    sum % 10 == 0
}

/// Country code, check digits, up to 30 alphanumerics; ISO 7064 mod 97 = 1.
fn iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len())
        || !s[..2].chars().all(|c| c.is_ascii_uppercase())
        || !s[2..4].chars().all(|c| c.is_ascii_digit())
        || !s.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let n = c.to_digit(36).unwrap_or(0) as u64;
        rem = if n >= 10 {
            (rem * 100 + n) % 97
        } else {
            (rem * 10 + n) % 97
        };
    }
    rem == 1
}

/// AAA-GG-SSSS: area not 000, 666 or 9xx; group not 00; serial not 0000.
fn ssn(v: &str) -> bool {
    let p: Vec<&str> = v.split('-').collect();
    if p.len() != 3 || p[0].len() != 3 || p[1].len() != 2 || p[2].len() != 4 {
        return false;
    }
    if !p.iter().all(|x| x.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    p[0] != "000" && p[0] != "666" && !p[0].starts_with('9') && p[1] != "00" && p[2] != "0000"
}

fn birth_column(c: &str) -> bool {
    let c = c.to_ascii_lowercase();
    c.contains("birth")
        || c == "dob"
        || c.ends_with("_dob")
        || c.starts_with("dob_")
        || c.contains("born")
}

/// A date (YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY) from 1900 up to 10 years ago.
fn birth_date(v: &str) -> bool {
    let day = v.get(..10).unwrap_or(v);
    let parsed = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"]
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(day, f).ok());
    let Some(d) = parsed else { return false };
    let latest = chrono::Utc::now().date_naive() - chrono::Duration::days(3652);
    d.format("%Y").to_string().as_str() >= "1900" && d <= latest
}

/// Two or three capitalised words, the first a common given name (a small dictionary).
fn person_name(v: &str) -> bool {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !(2..=3).contains(&words.len()) {
        return false;
    }
    let capitalised = |w: &str| {
        let mut c = w.chars();
        c.next().is_some_and(char::is_uppercase)
            && c.all(|x| x.is_lowercase() || x == '-' || x == '\'')
    };
    words.iter().all(|w| capitalised(w))
        && GIVEN_NAMES
            .binary_search(&words[0].to_ascii_lowercase().as_str())
            .is_ok()
}

/// Common given names (English-, French-, German-, Spanish-, Italian-speaking countries);
/// sorted for binary search.
static GIVEN_NAMES: &[&str] = &[
    "aaron",
    "ada",
    "adam",
    "adrian",
    "alan",
    "albert",
    "alex",
    "alexander",
    "alexandra",
    "alice",
    "amanda",
    "amelia",
    "amy",
    "ana",
    "andrea",
    "andreas",
    "andrew",
    "angela",
    "ann",
    "anna",
    "anne",
    "anthony",
    "antonio",
    "barbara",
    "ben",
    "benjamin",
    "betty",
    "brian",
    "carlos",
    "carol",
    "caroline",
    "catherine",
    "charles",
    "charlotte",
    "chloe",
    "chris",
    "christian",
    "christina",
    "christine",
    "christopher",
    "claire",
    "claudia",
    "daniel",
    "david",
    "deborah",
    "donald",
    "donna",
    "dorothy",
    "edward",
    "elena",
    "elizabeth",
    "ella",
    "emily",
    "emma",
    "eric",
    "francesca",
    "francesco",
    "frank",
    "george",
    "giovanni",
    "giulia",
    "grace",
    "hannah",
    "hans",
    "harry",
    "helen",
    "henry",
    "isabella",
    "jack",
    "jacob",
    "james",
    "jane",
    "janet",
    "jason",
    "javier",
    "jean",
    "jennifer",
    "jessica",
    "joe",
    "john",
    "jonathan",
    "jorge",
    "jose",
    "joseph",
    "joshua",
    "juan",
    "julia",
    "julie",
    "karen",
    "katherine",
    "kevin",
    "laura",
    "lauren",
    "linda",
    "lisa",
    "lucas",
    "lucia",
    "luis",
    "marco",
    "margaret",
    "maria",
    "marie",
    "mark",
    "martin",
    "mary",
    "matthew",
    "michael",
    "michelle",
    "mohammed",
    "nancy",
    "nicholas",
    "nicole",
    "oliver",
    "olivia",
    "patricia",
    "paul",
    "peter",
    "pierre",
    "rachel",
    "rebecca",
    "richard",
    "robert",
    "ronald",
    "ruth",
    "ryan",
    "sandra",
    "sarah",
    "sharon",
    "sophia",
    "sophie",
    "stefan",
    "stephen",
    "steven",
    "susan",
    "thomas",
    "timothy",
    "william",
    "wolfgang",
];

#[cfg(test)]
mod tests {
    use super::Detector::*;
    use super::*;

    #[test]
    fn given_names_are_sorted() {
        assert!(GIVEN_NAMES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn detectors_take_real_values_and_refuse_look_alikes() {
        let yes = [
            (Email, "ada@example.com"),
            (Phone, "+44 20 7946 0001"),
            (Phone, "(212) 555-0102"),
            (CreditCard, "4111 1111 1111 1111"),
            (CreditCard, "5500-0000-0000-0004"),
            (Iban, "GB82 WEST 1234 5698 7654 32"),
            (Iban, "DE89370400440532013000"),
            (UsSsn, "123-45-6789"),
            (Ipv4, "192.168.1.20"),
            (Ipv6, "2001:db8::1"),
            (PersonName, "Ada Lovelace"),
        ];
        for (d, v) in yes {
            assert!(d.is(v, "c"), "{d:?} {v}");
        }
        let no = [
            (Email, "ada@example"),
            (Phone, "20261101"),
            (Phone, "120.50"),
            (Phone, "2026-01-10"),
            (Phone, "10.01.2026"),
            (CreditCard, "4111 1111 1111 1112"),
            (CreditCard, "1234567890123"),
            (Iban, "GB82 WEST 1234 5698 7654 33"),
            (UsSsn, "666-45-6789"),
            (UsSsn, "123-00-6789"),
            (Ipv4, "300.1.1.1"),
            (Ipv6, "12:30"),
            (PersonName, "Order Placed"),
            (PersonName, "ada lovelace"),
        ];
        for (d, v) in no {
            assert!(!d.is(v, "c"), "{d:?} {v}");
        }
        assert!(DateOfBirth.is("1984-03-12", "date_of_birth"));
        assert!(!DateOfBirth.is("1984-03-12", "signup_date"));
        assert!(!DateOfBirth.is("2025-03-12", "birth_date"));
    }

    #[test]
    fn values_are_found_inside_free_text() {
        assert!(Email.within("please write to ada@example.com today"));
        assert!(CreditCard.within("paid with 4111 1111 1111 1111, thanks"));
        assert!(!CreditCard.within("order 4111 1111 1111 1112 shipped"));
        assert!(Phone.within("call +44 20 7946 0001 after 5"));
        assert!(UsSsn.within("ssn 123-45-6789"));
        assert!(!Email.within("nothing personal here"));
        assert!(!Phone.within(r#"{"_run_id":"0b1b44e7-6bae-4026-8164-123456789012"}"#));
        assert!(!Phone.within("at 2026-12-02T07:18:54.396398Z"));
        assert!(Phone.within(r#"{"phone":"+44 20 7946 0001"}"#));
    }
}
