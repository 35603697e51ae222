//! Readings of Japanese names written in kanji, so that a name typed in romaji or kana
//! ("Yamada Taro", "やまだ たろう") finds "山田 太郎": the person-name entries of IPADIC
//! (surnames and given names with their katakana readings), vendored as
//! `data/ja-name-readings.tsv` with its licence (`data/README.md`). Every reading kept
//! for a written form is a key; none is chosen.
//!
//! `deunicode` alone reads kanji as Chinese (山田 → "shan tian"), which is why this table
//! exists; it still turns the katakana readings into Hepburn-like romaji.

use std::collections::HashMap;
use std::sync::OnceLock;

/// `written \t s|g \t readings`, from IPADIC's Noun.name.csv.
const TABLE: &str = include_str!("../data/ja-name-readings.tsv");

/// Whether a name part is a surname or a given name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Surname,
    Given,
}

type Table = HashMap<&'static str, Vec<(Part, &'static str)>, foldhash::fast::RandomState>;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Table = HashMap::default();
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(w), Some(k), Some(rs)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let part = if k == "s" { Part::Surname } else { Part::Given };
            let e = t.entry(w).or_default();
            for r in rs.split(',') {
                e.push((part, r));
            }
        }
        t
    })
}

/// Romaji of a katakana reading: `deunicode`'s, and without the long-vowel marks people
/// leave out (タロウ → "tarou"; タロー → "taro").
fn romaji(reading: &str) -> Option<String> {
    let r: String = deunicode::deunicode(reading)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!r.is_empty()).then_some(r)
}

/// The romaji readings of a name part written in kanji (several when the table has
/// several), empty when it is not in the table.
pub fn readings(written: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, r) in table().get(written).map_or(&[][..], Vec::as_slice) {
        if let Some(r) = romaji(r)
            && !out.contains(&r)
        {
            out.push(r);
        }
    }
    out
}

/// A full name written without a space ("山田太郎") split into surname and given name
/// when the table knows both parts; the longest known surname first.
pub fn split_full_name(written: &str) -> Option<(&str, &str)> {
    let t = table();
    let cuts: Vec<usize> = written.char_indices().map(|(i, _)| i).skip(1).collect();
    cuts.into_iter().rev().find_map(|i| {
        let (s, g) = written.split_at(i);
        let is = |w: &str, p: Part| t.get(w).is_some_and(|v| v.iter().any(|x| x.0 == p));
        (is(s, Part::Surname) && is(g, Part::Given)).then_some((s, g))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kanji_names_have_their_readings() {
        assert!(readings("山田").contains(&"yamada".to_string()));
        let taro = readings("太郎");
        assert!(taro.contains(&"tarou".to_string()) && taro.contains(&"taro".to_string()));
        assert!(readings("dupont").is_empty());
        assert_eq!(split_full_name("山田太郎"), Some(("山田", "太郎")));
        assert_eq!(split_full_name("山田"), None);
    }
}
