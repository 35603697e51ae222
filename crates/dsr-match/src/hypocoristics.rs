//! Short, pet and variant forms of given names ("Gosia" for "Małgorzata", "Bill" for
//! "William", "Sophia" for "Sophie"), from maintained tables vendored in
//! `crates/dsr-match/data/` (sources, commits and licences in its README).
//!
//! A query word is related to the forms one step away in either direction: its full
//! forms, its short forms and its variants. Two steps ("Gosia" → "Małgorzata" →
//! "Małgosia") would relate most common names to each other.

use crate::text;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The merged table: `form \t full \t relation \t languages`.
const TABLE: &str = include_str!("../data/hypocoristics.tsv");

/// Most related forms kept per word: the commonest names have dozens of pet forms in
/// the genealogical source, and each is a vocabulary lookup per query.
pub(crate) const MAX_RELATED: usize = 32;

type Table = HashMap<Box<str>, Vec<Box<str>>, foldhash::fast::RandomState>;

fn fold(s: &str) -> Option<String> {
    let f = text::strip_diacritics(&text::nfkc_lower(s));
    (!f.is_empty() && f.chars().all(char::is_alphabetic)).then_some(f)
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Table = HashMap::default();
        let mut add = |a: &str, b: &str| {
            let v = t.entry(a.into()).or_default();
            if v.len() < MAX_RELATED && !v.iter().any(|x| &**x == b) {
                v.push(b.into());
            }
        };
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(form), Some(full)) = (cols.next(), cols.next()) else {
                continue;
            };
            let (Some(form), Some(full)) = (fold(form), fold(full)) else {
                continue;
            };
            if form != full {
                add(&form, &full);
                add(&full, &form);
            }
        }
        t
    })
}

/// The forms related to a folded given name (lower case, no diacritics), if any.
pub fn related(folded: &str) -> &'static [Box<str>] {
    table().get(folded).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relates_both_directions_across_languages() {
        let has = |a: &str, b: &str| related(a).iter().any(|x| &**x == b);
        assert!(has("gosia", "malgorzata") && has("malgorzata", "gosia"));
        assert!(has("bill", "william") && has("william", "bill"));
        assert!(related("dupont").is_empty());
        assert!(related("elizabeth").len() <= MAX_RELATED);
    }
}
