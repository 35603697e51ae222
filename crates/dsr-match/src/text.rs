//! Text folding shared by the name and address normalizers: Unicode NFKC, case folding,
//! diacritic and language folds, transliteration, a phonetic skeleton, and the edit
//! distance used to verify typo candidates.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFKC + lower case, with the few case folds `to_lowercase` does not do (ß → ss,
/// final sigma). Full-width and half-width forms become their plain forms here.
pub fn nfkc_lower(s: &str) -> String {
    // Fast paths: ASCII is its own NFKC form, and most other text is already NFKC
    // (a quick check, no decomposition); only the rest pays for normalization.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    if unicode_normalization::is_nfkc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        for c in s.chars() {
            push_lower(&mut out, c);
        }
        return out;
    }
    for c in s.nfkc() {
        push_lower(&mut out, c);
    }
    out
}

fn push_lower(out: &mut String, c: char) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'ς' => out.push('σ'),
        // Turkish dotted capital I lowercases to i + combining dot; keep it plain.
        'İ' => out.push('i'),
        c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        c => out.extend(c.to_lowercase()),
    }
}

/// Whether `c` is a combining mark we strip: only the generic diacritics block
/// (U+0300–U+036F) used by Latin, Greek and Cyrillic. Japanese voicing marks (U+3099)
/// and other scripts' marks are meaning-bearing and kept.
fn is_strippable_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Removes diacritics from already lower-cased text and maps the Latin letters that do
/// not decompose (ø, ł, đ, æ, œ, þ, ı …) to their base letters. Non-Latin scripts are
/// kept in their own script (Cyrillic й → и, ё → е; kana and kanji untouched).
pub fn strip_diacritics(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_strippable_mark(c) {
            continue;
        }
        match c {
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            'ŀ' => out.push('l'),
            'ħ' => out.push('h'),
            'ŧ' => out.push('t'),
            c => out.push(c),
        }
    }
    // NFD split Hangul and kana with voicing marks; recompose what we kept.
    if out.chars().any(|c| !c.is_ascii() && !is_combining_mark(c)) {
        out.nfc().collect()
    } else {
        out
    }
}

/// The German / Scandinavian spelling fold (ä → ae, ö → oe, ü → ue, å → aa, ø → oe), as a
/// second key: "Müller" is also written "Mueller". Input is lower-cased, with diacritics.
/// Returns `None` when nothing changes.
pub fn language_fold(lower: &str) -> Option<String> {
    if !lower.contains(['ä', 'ö', 'ü', 'å', 'ø']) && !lower.contains('\u{308}') {
        return None;
    }
    let composed: String = lower.nfc().collect();
    let mut out = String::with_capacity(composed.len() + 4);
    for c in composed.chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' | 'ø' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'å' => out.push_str("aa"),
            c => out.push(c),
        }
    }
    Some(strip_diacritics(&out))
}

/// Whether a token is in a script other than Latin (needs transliteration to compare with
/// Latin spellings).
pub fn is_non_latin(s: &str) -> bool {
    s.chars().any(|c| c.is_alphabetic() && (c as u32) >= 0x0370)
}

/// Whether a text contains Han, kana or Hangul (names often written without spaces).
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c as u32,
            0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
    })
}

/// Transliterates a non-Latin token to lower-case ASCII (Иванов → ivanov, タナカ →
/// tanaka). Returns `None` for Latin tokens or when transliteration yields nothing useful.
pub fn transliterate(token: &str) -> Option<String> {
    if !is_non_latin(token) {
        return None;
    }
    let ascii = deunicode::deunicode(token);
    let t: String = ascii
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!t.is_empty() && t != token).then_some(t)
}

/// A phonetic skeleton of a Latin, ASCII-folded token: similar-sounding consonants share a
/// class, vowels and `h` after the first letter are dropped, repeats collapse. "dupont" and
/// "dupond", "meyer" and "maier", "schmidt" and "schmitt" share a key. Returns `None` for
/// tokens too short or not in ASCII letters (the key would match too much).
pub fn phonetic(token: &str) -> Option<String> {
    if token.len() < 3 || !token.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let b = token.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut last = 0u8;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or(0);
        let (class, skip) = match c {
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y' => (if i == 0 { b'a' } else { 0 }, 1),
            b'h' | b'w' if i > 0 => (0, 1),
            b'p' if next == b'h' => (b'f', 2),
            b's' if next == b'c' && b.get(i + 2) == Some(&b'h') => (b's', 3),
            b's' if next == b'h' => (b's', 2),
            b'c' if next == b'h' => (b's', 2),
            b'c' if next == b'k' => (b'k', 2),
            b'c' if matches!(next, b'e' | b'i' | b'y') => (b's', 1),
            b'q' if next == b'u' => (b'k', 2),
            b'b' | b'p' => (b'p', 1),
            b'f' | b'v' | b'w' => (b'f', 1),
            b'c' | b'k' | b'q' | b'g' => (b'k', 1),
            b'd' | b't' => (b't', 1),
            b's' | b'z' | b'x' => (b's', 1),
            b'm' | b'n' => (b'n', 1),
            // A j after a vowel is a glide, written y or i elsewhere (Dutch ij / y,
            // German Majer / Maier / Mayer).
            b'j' if i > 0 && matches!(b[i - 1], b'a' | b'e' | b'i' | b'o' | b'u' | b'y') => (0, 1),
            b'j' => (b'j', 1),
            b'h' => (b'h', 1),
            other => (other, 1),
        };
        if class != 0 && class != last {
            out.push(class as char);
        }
        // A dropped vowel separates repeats ("nana" keeps both n's).
        last = if class == 0 && c != b'h' {
            0
        } else if class != 0 {
            class
        } else {
            last
        };
        i += skip;
    }
    (out.len() >= 2).then_some(out)
}

/// The number of typos tolerated for a token of `len` characters: none up to 3, one up
/// to 7, two from 8.
pub fn max_edits(len: usize) -> u8 {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), capped:
/// returns `None` when the distance exceeds `max`.
pub fn osa_distance(a: &[char], b: &[char], max: u8) -> Option<u8> {
    let max = max as usize;
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    if a == b {
        return Some(0);
    }
    let n = b.len();
    let mut prev2 = vec![0usize; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur = vec![0usize; n + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[n];
    (d <= max).then_some(d as u8)
}

/// OCR confusions of one character with another (Esakov, Lopresti & Sandberg 1994;
/// Kukich 1992), folded to lower case.
const OCR_PAIRS: &[(char, char)] = &[
    ('l', '1'),
    ('o', '0'),
    ('i', 'l'),
    ('s', '5'),
    ('b', '8'),
    ('c', 'e'),
    ('h', 'b'),
];
/// OCR confusions of two characters with one (same sources): "rn" read for "m", …
const OCR_SPLITS: &[(char, [char; 2])] = &[
    ('m', ['r', 'n']),
    ('d', ['c', 'l']),
    ('w', ['v', 'v']),
    ('u', ['i', 'i']),
    ('h', ['l', 'i']),
];
/// Rows of the QWERTY layout (QWERTZ and AZERTY differ by a few swaps, added below):
/// a key's neighbours are the keys beside it and the keys above and below it.
const KEY_ROWS: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];
/// Cost of an OCR confusion: half an edit, the commonest misreadings.
pub const OCR_COST: f32 = 0.5;
/// Cost of a neighbouring key struck instead (GeCo's keyboard model): most substitution
/// typos are these.
pub const KEYBOARD_COST: f32 = 0.75;
/// Cost of a letter doubled or undoubled ("Muller" / "Mueller" aside, "Hanna" / "Hannah"
/// aside: "Mülller", "Jansen" / "Janssen").
pub const DOUBLING_COST: f32 = 0.5;

fn ocr_pair(a: char, b: char) -> bool {
    OCR_PAIRS
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
}

/// Row and column of a letter on the QWERTY layout ([`KEY_ROWS`]).
fn key_pos(c: char) -> Option<(i8, i8)> {
    if !c.is_ascii_lowercase() {
        return None;
    }
    KEY_ROWS.iter().enumerate().find_map(|(r, row)| {
        row.bytes()
            .position(|k| k == c as u8)
            .map(|i| (r as i8, i as i8))
    })
}

fn key_neighbours(a: char, b: char) -> bool {
    // QWERTZ swaps y and z, AZERTY a/q and z/w.
    if matches!(
        (a, b),
        ('y', 'z') | ('z', 'y') | ('a', 'q') | ('q', 'a') | ('z', 'w') | ('w', 'z')
    ) {
        return true;
    }
    match (key_pos(a), key_pos(b)) {
        (Some((ra, ia)), Some((rb, ib))) => {
            (ra == rb && (ia - ib).abs() == 1) || ((ra - rb).abs() == 1 && (ia - ib).abs() <= 1)
        }
        _ => false,
    }
}

fn substitution_cost(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if !a.is_ascii() || !b.is_ascii() {
        1.0
    } else if ocr_pair(a, b) {
        OCR_COST
    } else if key_neighbours(a, b) {
        KEYBOARD_COST
    } else {
        1.0
    }
}

/// Longest token [`confusion_distance`] compares (longer ones are not names).
const CONFUSION_MAX_LEN: usize = 31;

/// An edit distance in which the commonest slips cost less than an edit: an OCR
/// confusion ("rn" for "m", "l" for "1") [`OCR_COST`], a neighbouring key
/// [`KEYBOARD_COST`], a doubled or undoubled letter [`DOUBLING_COST`]; other insertions,
/// deletions, substitutions and adjacent transpositions cost 1. `None` above `max`.
pub fn confusion_distance(a: &[char], b: &[char], max: f32) -> Option<f32> {
    if a.len() > CONFUSION_MAX_LEN || b.len() > CONFUSION_MAX_LEN {
        return None;
    }
    if (a.len().abs_diff(b.len()) as f32) * DOUBLING_COST > max {
        return None;
    }
    if a == b {
        return Some(0.0);
    }
    const W: usize = CONFUSION_MAX_LEN + 1;
    let n = b.len();
    let indel = |s: &[char], k: usize| {
        if k >= 2 && s[k - 1] == s[k - 2] {
            DOUBLING_COST
        } else {
            1.0
        }
    };
    // Three rolling rows: i - 2 (transpositions, two-for-one OCR splits), i - 1, i.
    let mut prev2 = [0.0f32; W];
    let mut prev = [0.0f32; W];
    let mut cur = [0.0f32; W];
    for j in 1..=n {
        prev[j] = prev[j - 1] + indel(b, j);
    }
    for i in 1..=a.len() {
        cur[0] = prev[0] + indel(a, i);
        let mut row_min = cur[0];
        for j in 1..=n {
            let mut v = (prev[j] + indel(a, i))
                .min(cur[j - 1] + indel(b, j))
                .min(prev[j - 1] + substitution_cost(a[i - 1], b[j - 1]));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1.0);
            }
            for &(one, two) in OCR_SPLITS {
                if i > 1 && a[i - 2] == two[0] && a[i - 1] == two[1] && b[j - 1] == one {
                    v = v.min(prev2[j - 1] + OCR_COST);
                }
                if j > 1 && b[j - 2] == two[0] && b[j - 1] == two[1] && a[i - 1] == one {
                    v = v.min(prev[j - 2] + OCR_COST);
                }
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        // A two-row step (a split) can lower a later cell by at most one edit's worth.
        if row_min > max + 1.0 {
            return None;
        }
        prev2[..=n].copy_from_slice(&prev[..=n]);
        prev[..=n].copy_from_slice(&cur[..=n]);
    }
    let v = prev[n];
    (v <= max).then_some(v)
}

/// The [`confusion_distance`] tolerated between words whose shorter has `len`
/// characters: two edits from five characters (Damerau's multi-error fifth of
/// misspellings), one at three or four, one OCR confusion below.
pub fn max_confusion(len: usize) -> f32 {
    match len {
        0..=2 => OCR_COST,
        3 | 4 => 1.0,
        _ => 2.0,
    }
}

/// What a word `cost` ([`confusion_distance`]) away counts for against 1 for the same
/// word: 0.85 at one edit and 0.7 at two (as in the typo neighbourhoods), linear in
/// between, so an OCR or keyboard slip ranks above another edit.
pub fn confusion_weight(cost: f32) -> f32 {
    if cost <= 1.0 {
        1.0 - 0.15 * cost
    } else {
        (0.85 - 0.15 * (cost - 1.0)).max(0.0)
    }
}

/// Calls `f` with every string obtained by deleting up to `max` characters from `chars`
/// (the original included), each distinct variant at least once. Used on both sides of a
/// typo lookup (the symmetric-delete method): two tokens within `max` edits share a
/// variant.
pub fn for_each_delete(chars: &[char], max: u8, f: &mut dyn FnMut(&str)) {
    let mut buf = String::with_capacity(chars.len() * 4);
    buf.extend(chars.iter());
    f(&buf);
    if max == 0 || chars.len() <= 1 {
        return;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut emit = |s: String, f: &mut dyn FnMut(&str)| {
        if !seen.contains(&s) {
            f(&s);
            seen.push(s);
        }
    };
    for i in 0..chars.len() {
        let one: Vec<char> = chars
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != i)
            .map(|(_, c)| *c)
            .collect();
        emit(one.iter().collect(), f);
        if max >= 2 && one.len() > 1 {
            for j in i..one.len() {
                let two: String = one
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != j)
                    .map(|(_, c)| *c)
                    .collect();
                emit(two, f);
            }
        }
    }
}

/// Shortest word that [`shares_stem`] relates: two letters are an initial and a half.
const STEM_MIN_WORD: usize = 3;
/// Letters two words must begin with alike ([`shares_stem`]).
const STEM_PREFIX: usize = 2;
/// Letters the shorter word begins with that must occur in the longer one when their
/// beginnings differ.
const STEM_RUN: usize = 3;
const _: () = assert!(STEM_MIN_WORD >= STEM_PREFIX && STEM_MIN_WORD >= STEM_RUN);

/// Whether two words, both at least three letters long, begin with the same two
/// letters, or the shorter one's first three letters occur in the longer: what a short
/// or pet form that no table lists usually keeps of the full name ("Musti" of
/// "Mustafa", "Sanne" of "Susanne", "Ваня" of "Иван"). A weak hint that something was
/// written short, never evidence on its own.
pub fn shares_stem(a: &[char], b: &str) -> bool {
    let blen = b.chars().count();
    if a.len() < STEM_MIN_WORD || blen < STEM_MIN_WORD || a.iter().copied().eq(b.chars()) {
        return false;
    }
    // Both words have at least STEM_MIN_WORD letters, enough for the prefix and the run.
    if a.iter()
        .zip(b.chars())
        .take(STEM_PREFIX)
        .all(|(x, y)| *x == y)
    {
        return true;
    }
    let bc: Vec<char> = b.chars().collect();
    let (short, long) = if a.len() <= bc.len() {
        (a, &bc[..])
    } else {
        (&bc[..], a)
    };
    long.windows(STEM_RUN).any(|w| w == &short[..STEM_RUN])
}

/// Whether two number tokens (house numbers, postcodes) are one keystroke apart: one
/// digit substituted, two adjacent characters swapped, or (both at least two characters
/// long) one digit inserted or deleted. "75002"/"75020", "12"/"21", "128"/"12".
pub fn near_number(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b || !a.is_ascii() || !b.is_ascii() {
        return false;
    }
    if a.len() == b.len() {
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        return match diff.as_slice() {
            [i] => a[*i].is_ascii_digit() && b[*i].is_ascii_digit(),
            [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
            _ => false,
        };
    }
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if long.len() != short.len() + 1 || short.len() < 2 {
        return false;
    }
    let i = (0..short.len())
        .find(|&i| short[i] != long[i])
        .unwrap_or(short.len());
    long[i].is_ascii_digit() && short[i..] == long[i + 1..]
}

/// Whether two numbers one keystroke apart ([`near_number`]) are so by the commonest
/// slips: two digits swapped, or a digit replaced by its neighbour on the number row
/// (GeCo's keyboard model). Those rank above other one-digit differences.
pub fn keyboard_digit_slip(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || !near_number_bytes(a, b) {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    match diff.as_slice() {
        [i] => a[*i].abs_diff(b[*i]) == 1,
        _ => true,
    }
}

fn near_number_bytes(a: &[u8], b: &[u8]) -> bool {
    std::str::from_utf8(a)
        .ok()
        .zip(std::str::from_utf8(b).ok())
        .is_some_and(|(a, b)| near_number(a, b))
}

/// Splits folded text into tokens: letters and digits form words; apostrophes inside a
/// word are removed (O'Brien → obrien, d'Angelo → dangelo); everything else separates.
pub fn tokens(folded: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in folded.chars() {
        if c.is_alphanumeric() || (is_combining_mark(c) && !cur.is_empty()) {
            cur.push(c);
        } else if matches!(c, '\'' | '’' | 'ʼ' | '`' | '´') && !cur.is_empty() {
            // dropped
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_shared_by_short_forms() {
        let s = |a: &str, b: &str| shares_stem(&a.chars().collect::<Vec<_>>(), b);
        assert!(s("musti", "mustafa") && s("sanne", "susanne") && s("ваня", "иван"));
        assert!(s("memo", "mehmet") && s("aga", "agnieszka"));
        assert!(!s("jo", "joost"), "two letters are an initial, not a stem");
        assert!(!s("paul", "pierre") && !s("anna", "anna"));
        assert!(
            !s("vandenber", "jandriks"),
            "a run inside both is not a short form"
        );
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn folds() {
        assert_eq!(nfkc_lower("ＪＥＡＮ Straße"), "jean strasse");
        assert_eq!(strip_diacritics("zoë łódź øre"), "zoe lodz ore");
        assert_eq!(strip_diacritics("ガギ"), "ガギ");
        assert_eq!(strip_diacritics(&nfkc_lower("ｶﾞｷﾞ")), "ガギ");
        assert_eq!(
            strip_diacritics(&nfkc_lower("İSTANBUL ışık")),
            "istanbul isik"
        );
        assert_eq!(language_fold("müller").as_deref(), Some("mueller"));
        assert_eq!(language_fold("dupont"), None);
        assert_eq!(transliterate("иванов").as_deref(), Some("ivanov"));
        assert_eq!(transliterate("たなか").as_deref(), Some("tanaka"));
        assert_eq!(transliterate("dupont"), None);
    }

    #[test]
    fn phonetic_keys() {
        assert_eq!(phonetic("dupont"), phonetic("dupond"));
        assert_eq!(phonetic("meyer"), phonetic("maier"));
        assert_eq!(phonetic("schmidt"), phonetic("schmitt"));
        assert_ne!(phonetic("dupont"), phonetic("durand"));
        assert_eq!(phonetic("al"), None);
        assert_eq!(phonetic("thijs"), phonetic("thys"));
        assert_eq!(phonetic("majer"), phonetic("maier"));
    }

    #[test]
    fn distances() {
        assert_eq!(osa_distance(&chars("dupont"), &chars("dupotn"), 1), Some(1));
        assert_eq!(osa_distance(&chars("dupont"), &chars("dupond"), 2), Some(1));
        assert_eq!(osa_distance(&chars("dupont"), &chars("durand"), 2), None);
        assert_eq!(osa_distance(&chars("abc"), &chars("abc"), 0), Some(0));
    }

    #[test]
    fn deletes_meet_for_close_tokens() {
        let collect = |s: &str, d| {
            let mut v = Vec::new();
            for_each_delete(&chars(s), d, &mut |x| v.push(x.to_owned()));
            v
        };
        let a = collect("dupont", 1);
        let b = collect("dupotn", 1);
        assert!(a.iter().any(|x| b.contains(x)));
        assert_eq!(collect("abcd", 1).len(), 5);
    }

    #[test]
    fn numbers_one_keystroke_apart() {
        for (a, b) in [
            ("75002", "75003"),
            ("75002", "75020"),
            ("12", "21"),
            ("128", "12"),
            ("12a", "13a"),
        ] {
            assert!(near_number(a, b) && near_number(b, a), "{a} {b}");
        }
        for (a, b) in [
            ("75002", "75002"),
            ("75002", "76003"),
            ("1", "12"),
            ("12", "34"),
            ("12a", "12b"),
            ("123", "321"),
        ] {
            assert!(!near_number(a, b), "{a} {b}");
        }
    }

    #[test]
    fn keyboard_slips_rank_above_other_digit_errors() {
        assert!(keyboard_digit_slip("12", "13") && keyboard_digit_slip("12", "21"));
        assert!(!keyboard_digit_slip("12", "18") && !keyboard_digit_slip("128", "12"));
        assert!(near_number("12", "18"));
    }

    #[test]
    fn confusions_cost_less_than_edits() {
        let d = |a: &str, b: &str| confusion_distance(&chars(a), &chars(b), 3.0);
        assert_eq!(d("rnuller", "muller"), Some(OCR_COST));
        assert_eq!(d("muller", "rnuller"), Some(OCR_COST));
        assert_eq!(d("1ukas", "lukas"), Some(OCR_COST));
        assert_eq!(d("dupomt", "dupont"), Some(KEYBOARD_COST));
        assert_eq!(d("jansen", "janssen"), Some(DOUBLING_COST));
        assert_eq!(d("dupont", "dupotn"), Some(1.0));
        assert_eq!(d("dupont", "dupont"), Some(0.0));
        assert_eq!(
            confusion_distance(&chars("dupont"), &chars("durand"), 2.0),
            None
        );
        assert_eq!(
            confusion_distance(&chars("kozolwa"), &chars("kozlowak"), 2.0),
            Some(2.0)
        );
    }

    #[test]
    fn tokenizes_names() {
        assert_eq!(tokens("o'brien jean-pierre"), ["obrien", "jean", "pierre"]);
        assert_eq!(tokens("j. dupont"), ["j", "dupont"]);
    }
}
