//! SMS length rules: the encoding a text needs and how many segments it takes.
//!
//! A text is sent as GSM-7 when every character is in the GSM 03.38 default alphabet or
//! its extension table, else as UCS-2 (3GPP TS 23.038 §6.2.1; the table below was
//! checked against Unicode's `GSM0338.TXT` mapping as transcribed in `dsch/gsm0338`,
//! `gsm0338/charset.py`). No national language shift tables are assumed: AWS End User
//! Messaging SMS documents only "the GSM 03.38 character set" and "other characters".
//!
//! - GSM-7: one septet per character of the basic set; the extension characters
//!   `^ { } \ [ ~ ] | €` and form feed take two (the escape and the character).
//! - UCS-2: one UTF-16 unit per character; a character outside the Basic Multilingual
//!   Plane (most emoji) takes two, a surrogate pair.
//! - One segment holds 160 septets or 70 UTF-16 units. A longer text is concatenated:
//!   each segment then carries a 6-byte user data header and holds 153 septets or 67
//!   units. An extension character's two septets and a surrogate pair's two units never
//!   straddle a segment boundary: when they do not fit, they open the next segment.
//!
//! These are the numbers of AWS End User Messaging SMS's "SMS character limits"
//! (<https://docs.aws.amazon.com/sms-voice/latest/userguide/sms-limitations-character.html>).
//! For the maximum see [`MAX_SEGMENTS`].

use serde::Serialize;

/// Septets in a GSM-7 text sent as a single segment.
pub const GSM7_SINGLE: usize = 160;
/// Septets in each segment of a concatenated GSM-7 text (140 bytes less the 6-byte header).
pub const GSM7_CONCATENATED: usize = 153;
/// UTF-16 units in a UCS-2 text sent as a single segment.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units in each segment of a concatenated UCS-2 text.
pub const UCS2_CONCATENATED: usize = 67;

/// The most segments one text may take: 10.
///
/// `SendTextMessage` (`pinpoint-sms-voice-v2`, API version 2022-03-31) takes a
/// `MessageBody` of 1 to 1,600 characters, not blank: shape `TextMessageBody`, `min 1,
/// max 1600, pattern (?!\s*$)[\s\S]+`, in the service model the AWS SDKs are generated
/// from (botocore `data/pinpoint-sms-voice-v2/2022-03-31/service-2.json`), shown as
/// "Length Constraints" on the API reference page
/// <https://docs.aws.amazon.com/pinpoint/latest/apireference_smsvoicev2/API_SendTextMessage.html>.
/// Ten is the largest count for which every text accepted here is inside that limit
/// whatever its encoding: 10 × 153 = 1,530 GSM-7 septets, 10 × 67 = 670 UCS-2 units,
/// while 11 × 153 = 1,683 could be more than 1,600 characters. Each segment is billed
/// and counts against the number's message parts per second ("Message part preview",
/// <https://docs.aws.amazon.com/sms-voice/latest/userguide/getting-started-mpp.html>),
/// so ten is also a sensible ceiling for a contact-centre reply.
pub const MAX_SEGMENTS: usize = 10;

/// `SendTextMessage`'s limit on `MessageBody`, in characters.
pub const MESSAGE_BODY_MAX_CHARS: usize = 1600;

// The longest text accepted here, in either encoding, is one the API takes.
const _: () = assert!(MAX_SEGMENTS * GSM7_CONCATENATED <= MESSAGE_BODY_MAX_CHARS);
const _: () = assert!(MAX_SEGMENTS * UCS2_CONCATENATED <= MESSAGE_BODY_MAX_CHARS);

/// How a text travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// The GSM 03.38 default alphabet, 7 bits a character.
    Gsm7,
    /// UTF-16 code units, 16 bits each.
    Ucs2,
}

/// What a text takes when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsSegments {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) the whole text takes.
    pub units: usize,
    /// Segments (message parts) it is sent as, each billed.
    pub segments: usize,
}

/// Why a text cannot be sent as an SMS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    #[error("an SMS cannot be empty or only white space")]
    Empty,
    #[error(
        "the text is too long for an SMS: it takes {segments} segments and at most {max} can \
         be sent (about {} characters, or {} when a character needs UCS-2)",
        .max * GSM7_CONCATENATED,
        .max * UCS2_CONCATENATED
    )]
    TooLong { segments: usize, max: usize },
}

/// The encoding a text needs: GSM-7 when every character is in the GSM 03.38 default
/// alphabet or its extension table, else UCS-2.
pub fn encoding(text: &str) -> SmsEncoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        SmsEncoding::Gsm7
    } else {
        SmsEncoding::Ucs2
    }
}

/// The encoding, units and segments of a text; refused when it is empty or blank (the
/// API refuses it too) or takes more than [`MAX_SEGMENTS`].
pub fn segments(text: &str) -> Result<SmsSegments, SmsError> {
    if text.chars().all(is_blank) {
        return Err(SmsError::Empty);
    }
    let counted = count(text);
    if counted.segments > MAX_SEGMENTS {
        return Err(SmsError::TooLong {
            segments: counted.segments,
            max: MAX_SEGMENTS,
        });
    }
    Ok(counted)
}

/// Counts without the limits.
fn count(text: &str) -> SmsSegments {
    let encoding = encoding(text);
    let (single, concatenated) = match encoding {
        SmsEncoding::Gsm7 => (GSM7_SINGLE, GSM7_CONCATENATED),
        SmsEncoding::Ucs2 => (UCS2_SINGLE, UCS2_CONCATENATED),
    };
    let cost = |c: char| match encoding {
        // Every character has a septet count once the text is GSM-7.
        SmsEncoding::Gsm7 => gsm7_septets(c).unwrap_or(2),
        SmsEncoding::Ucs2 => c.len_utf16(),
    };
    let (mut units, mut segments, mut used) = (0, 1, 0);
    for c in text.chars() {
        let n = cost(c);
        units += n;
        // A character is never split: when it does not fit, it opens the next segment.
        if used + n > concatenated {
            segments += 1;
            used = n;
        } else {
            used += n;
        }
    }
    SmsSegments {
        encoding,
        units,
        segments: if units <= single { 1 } else { segments },
    }
}

/// White space as the API's `MessageBody` pattern `(?!\s*$)` sees it (Java's `\s`).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Septets a character takes in GSM-7: 1 in the default alphabet, 2 in the extension
/// table, none outside both. Comments give the GSM codes (3GPP TS 23.038 §6.2.1).
fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // 0x00–0x0F: @ £ $ ¥ è é ù ì ò Ç LF Ø ø CR Å å
        '@' | '\u{A3}' | '$' | '\u{A5}' | '\u{E8}' | '\u{E9}' | '\u{F9}' | '\u{EC}'
        | '\u{F2}' | '\u{C7}' | '\n' | '\u{D8}' | '\u{F8}' | '\r' | '\u{C5}' | '\u{E5}'
        // 0x10–0x1A: Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ (0x1B is the escape to the extension table)
        | '\u{394}' | '_' | '\u{3A6}' | '\u{393}' | '\u{39B}' | '\u{3A9}' | '\u{3A0}'
        | '\u{3A8}' | '\u{3A3}' | '\u{398}' | '\u{39E}'
        // 0x1C–0x1F: Æ æ ß É
        | '\u{C6}' | '\u{E6}' | '\u{DF}' | '\u{C9}'
        // 0x20–0x3F: space ! " # ¤ % & ' ( ) * + , - . / 0–9 : ; < = > ?
        | ' '..='#' | '\u{A4}' | '%'..='?'
        // 0x40–0x5F: ¡ A–Z Ä Ö Ñ Ü §
        | '\u{A1}' | 'A'..='Z' | '\u{C4}' | '\u{D6}' | '\u{D1}' | '\u{DC}' | '\u{A7}'
        // 0x60–0x7F: ¿ a–z ä ö ñ ü à
        | '\u{BF}' | 'a'..='z' | '\u{E4}' | '\u{F6}' | '\u{F1}' | '\u{FC}' | '\u{E0}' => Some(1),
        // Extension table, after the escape: FF ^ { } \ [ ~ ] | €
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '\u{20AC}' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
