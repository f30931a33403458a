//! The SMS length rules, one test a rule: encodings, segment boundaries, what never
//! splits, the maximum and the empty text.

use super::*;

fn gsm7(n: usize) -> String {
    "a".repeat(n)
}

/// `á` is not in GSM 03.38: one UTF-16 unit of a UCS-2 text.
fn ucs2(n: usize) -> String {
    "á".repeat(n)
}

fn sms(encoding: SmsEncoding, units: usize, segments: usize) -> Result<SmsSegments, SmsError> {
    Ok(SmsSegments {
        encoding,
        units,
        segments,
    })
}

#[test]
fn a_gsm7_text_of_160_characters_is_one_segment() {
    assert_eq!(segments(&gsm7(160)), sms(SmsEncoding::Gsm7, 160, 1));
}

#[test]
fn a_gsm7_text_of_161_characters_is_two_segments_of_153() {
    assert_eq!(segments(&gsm7(161)), sms(SmsEncoding::Gsm7, 161, 2));
}

#[test]
fn gsm7_segments_turn_over_exactly_after_153_times_k() {
    for k in 2..=MAX_SEGMENTS {
        let full = 153 * k;
        assert_eq!(
            segments(&gsm7(full)),
            sms(SmsEncoding::Gsm7, full, k),
            "{full}"
        );
        if k < MAX_SEGMENTS {
            let over = full + 1;
            assert_eq!(segments(&gsm7(over)), sms(SmsEncoding::Gsm7, over, k + 1));
        }
    }
}

#[test]
fn every_character_of_the_gsm_03_38_basic_set_counts_one_septet() {
    let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                 ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    // The default alphabet has 128 codes; 0x1B is the escape, not a character.
    assert_eq!(basic.chars().count(), 127);
    for c in basic.chars() {
        assert_eq!(
            segments(&format!("x{c}")).map(|s| (s.encoding, s.units)),
            Ok((SmsEncoding::Gsm7, 2)),
            "{c:?} (U+{:04X})",
            c as u32
        );
    }
}

#[test]
fn ascii_is_gsm7_except_the_backtick_and_the_tab() {
    for c in (' '..='~').filter(|c| !"^{}\\[~]|`".contains(*c)) {
        assert_eq!(encoding(&c.to_string()), SmsEncoding::Gsm7, "{c:?}");
    }
    assert_eq!(encoding("`"), SmsEncoding::Ucs2);
    assert_eq!(encoding("a\tb"), SmsEncoding::Ucs2);
}

#[test]
fn lowercase_c_cedilla_is_not_gsm7_but_capital_c_cedilla_is() {
    assert_eq!(encoding("Ç"), SmsEncoding::Gsm7);
    assert_eq!(encoding("ç"), SmsEncoding::Ucs2);
}

#[test]
fn an_extension_character_counts_twice_and_is_never_split() {
    // Beside a letter: a form feed alone is a blank text.
    for c in "^{}\\[~]|€\u{0C}".chars() {
        assert_eq!(
            segments(&format!("x{c}")),
            sms(SmsEncoding::Gsm7, 3, 1),
            "{c:?}"
        );
    }
    // 80 euro signs are 160 septets: one segment; 159 + 2 septets are two.
    assert_eq!(segments(&"€".repeat(80)), sms(SmsEncoding::Gsm7, 160, 1));
    assert_eq!(
        segments(&format!("{}€", gsm7(159))),
        sms(SmsEncoding::Gsm7, 161, 2)
    );
    // 152 + 2 + 152 = 306 septets, 2 × 153, yet three segments: the euro sign's escape
    // and character cannot sit on both sides of the first boundary.
    let straddling = format!("{}€{}", gsm7(152), gsm7(152));
    assert_eq!(segments(&straddling), sms(SmsEncoding::Gsm7, 306, 3));
    // Moved one septet earlier it fits the first segment exactly.
    let fitting = format!("{}€{}", gsm7(151), gsm7(153));
    assert_eq!(segments(&fitting), sms(SmsEncoding::Gsm7, 306, 2));
}

#[test]
fn one_character_outside_gsm7_makes_the_whole_text_ucs2_70_per_segment() {
    let text = format!("{}á", gsm7(69));
    assert_eq!(encoding(&text), SmsEncoding::Ucs2);
    assert_eq!(segments(&text), sms(SmsEncoding::Ucs2, 70, 1));
    // 100 GSM-7 characters are one segment alone, two with a single `á`.
    assert_eq!(segments(&gsm7(100)), sms(SmsEncoding::Gsm7, 100, 1));
    let text = format!("{}á", gsm7(100));
    assert_eq!(segments(&text), sms(SmsEncoding::Ucs2, 101, 2));
    // In UCS-2 an extension character of GSM-7 is one unit like any other.
    assert_eq!(segments("€á"), sms(SmsEncoding::Ucs2, 2, 1));
}

#[test]
fn a_ucs2_text_of_71_characters_is_two_segments_of_67() {
    assert_eq!(segments(&ucs2(70)), sms(SmsEncoding::Ucs2, 70, 1));
    assert_eq!(segments(&ucs2(71)), sms(SmsEncoding::Ucs2, 71, 2));
}

#[test]
fn ucs2_segments_turn_over_exactly_after_67_times_k() {
    for k in 2..=MAX_SEGMENTS {
        let full = 67 * k;
        assert_eq!(
            segments(&ucs2(full)),
            sms(SmsEncoding::Ucs2, full, k),
            "{full}"
        );
        if k < MAX_SEGMENTS {
            let over = full + 1;
            assert_eq!(segments(&ucs2(over)), sms(SmsEncoding::Ucs2, over, k + 1));
        }
    }
}

#[test]
fn an_emoji_counts_as_two_ucs2_units_and_is_never_split() {
    assert_eq!(segments("😀"), sms(SmsEncoding::Ucs2, 2, 1));
    // 35 emoji are 70 units, one segment; 36 are 72, two (33 a segment).
    assert_eq!(segments(&"😀".repeat(35)), sms(SmsEncoding::Ucs2, 70, 1));
    assert_eq!(segments(&"😀".repeat(36)), sms(SmsEncoding::Ucs2, 72, 2));
    // 66 + 2 + 66 = 134 units, 2 × 67, yet three segments: the surrogate pair does not
    // fit the first segment's last unit.
    let straddling = format!("{}😀{}", ucs2(66), ucs2(66));
    assert_eq!(segments(&straddling), sms(SmsEncoding::Ucs2, 134, 3));
    let fitting = format!("{}😀{}", ucs2(65), ucs2(67));
    assert_eq!(segments(&fitting), sms(SmsEncoding::Ucs2, 134, 2));
}

#[test]
fn portuguese_accents_in_gsm7_vs_ucs2() {
    // `á`, `ê`, `ç`, `ã`, `õ`, `í`, `ó`, `ú`, `â`, `ô` are not in GSM 03.38.
    for text in [
        "Olá, tudo bem?",
        "Você",
        "Atenção",
        "Não",
        "Obrigado pela preferência",
    ] {
        assert_eq!(encoding(text), SmsEncoding::Ucs2, "{text}");
    }
    assert_eq!(segments("Olá, tudo bem?"), sms(SmsEncoding::Ucs2, 14, 1));
    // Without the accents, or with the few the alphabet has (é è à ù ì ò Ç), GSM-7.
    for text in ["Ola, tudo bem?", "Voce", "Atencao", "Até à tarde, Ç"] {
        assert_eq!(encoding(text), SmsEncoding::Gsm7, "{text}");
    }
    assert_eq!(segments("Até à tarde"), sms(SmsEncoding::Gsm7, 11, 1));
}

#[test]
fn a_text_above_the_maximum_is_refused_with_its_segment_count() {
    assert_eq!(MAX_SEGMENTS, 10);
    assert_eq!(
        segments(&gsm7(1530)),
        sms(SmsEncoding::Gsm7, 1530, MAX_SEGMENTS)
    );
    assert_eq!(
        segments(&gsm7(1531)),
        Err(SmsError::TooLong {
            segments: 11,
            max: 10
        })
    );
    assert_eq!(
        segments(&ucs2(670)),
        sms(SmsEncoding::Ucs2, 670, MAX_SEGMENTS)
    );
    assert_eq!(
        segments(&ucs2(671)),
        Err(SmsError::TooLong {
            segments: 11,
            max: 10
        })
    );
    let err = segments(&gsm7(1600 * 2)).unwrap_err();
    assert_eq!(
        err,
        SmsError::TooLong {
            segments: 21,
            max: 10
        }
    );
    assert_eq!(
        err.to_string(),
        "the text is too long for an SMS: it takes 21 segments and at most 10 can be sent \
         (about 1530 characters, or 670 when a character needs UCS-2)"
    );
}

#[test]
fn the_longest_accepted_texts_fit_send_text_messages_1600_characters() {
    // 33 emoji a segment: 330 fit ten segments (335, also 670 units, would need 11).
    for longest in [gsm7(1530), ucs2(670), "😀".repeat(330)] {
        assert!(segments(&longest).is_ok());
        assert!(longest.chars().count() <= MESSAGE_BODY_MAX_CHARS);
    }
    assert_eq!(
        segments(&"😀".repeat(335)),
        Err(SmsError::TooLong {
            segments: 11,
            max: 10
        })
    );
    // 1,600 GSM-7 characters, what the API would take, are eleven segments: refused.
    assert_eq!(
        segments(&gsm7(MESSAGE_BODY_MAX_CHARS)),
        Err(SmsError::TooLong {
            segments: 11,
            max: 10
        })
    );
}

#[test]
fn an_empty_text_is_refused() {
    assert_eq!(segments(""), Err(SmsError::Empty));
    // The API refuses a blank body too (`(?!\s*$)`).
    assert_eq!(segments(" \r\n\t"), Err(SmsError::Empty));
    assert_eq!(
        SmsError::Empty.to_string(),
        "an SMS cannot be empty or only white space"
    );
    assert_eq!(segments(" ."), sms(SmsEncoding::Gsm7, 2, 1));
}

#[test]
fn the_answer_serialises_for_the_api() {
    let json = serde_json::to_value(segments("Olá").unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"encoding": "ucs2", "units": 3, "segments": 1})
    );
}
