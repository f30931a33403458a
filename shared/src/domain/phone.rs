//! WhatsApp contact numbers: digits only, with country and area code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A contact's number (`wa_id`): 10 to 15 digits, country and area code included.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error(
        "phone must contain digits only, with country and area code (for example 554832817000)"
    )]
    NotDigits,
    #[error("phone must have 10 to 15 digits including country and area code (for example 554832817000); got {0} digits")]
    Length(usize),
}

impl Phone {
    pub const MIN_DIGITS: usize = 10;
    pub const MAX_DIGITS: usize = 15;

    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotDigits);
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&raw.len()) {
            return Err(PhoneError::Length(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as logs may show it: country code and last two digits only.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks any phone-like string for logs: keeps the first 2 and last 2 characters.
pub fn mask_phone(raw: &str) -> String {
    let n = raw.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    raw.chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i >= n - 2 { c } else { '*' })
        .collect()
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phone::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl fmt::Display for Phone {
    /// Display is masked on purpose: a phone formatted into a log line never leaks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_is_digits_with_country_and_area_code() {
        assert_eq!(
            Phone::parse("554832817000").unwrap().as_str(),
            "554832817000"
        );
    }

    #[test]
    fn phone_with_symbols_is_rejected() {
        assert_eq!(Phone::parse("+55 48 3281-7000"), Err(PhoneError::NotDigits));
        assert_eq!(Phone::parse(""), Err(PhoneError::NotDigits));
    }

    #[test]
    fn phone_without_area_code_is_rejected() {
        assert_eq!(Phone::parse("32817000"), Err(PhoneError::Length(8)));
        assert_eq!(
            Phone::parse("5548328170001234"),
            Err(PhoneError::Length(16))
        );
    }

    #[test]
    fn phone_is_masked_in_display() {
        let p = Phone::parse("554832817000").unwrap();
        assert_eq!(p.to_string(), "55********00");
    }
}
