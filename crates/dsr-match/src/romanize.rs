//! Romanizations of Russian Cyrillic in the systems found in passports, visas and
//! address books, so that a name typed in any of them finds the Cyrillic record:
//! BGN/PCGN (1947), ISO 9:1995 (diacritics folded), ICAO Doc 9303 (passports since
//! 2013), and the German (Duden) and French usages. Written from the published tables;
//! `deunicode`'s generic transliteration stays the first alternative.

/// A romanization system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    BgnPcgn,
    Iso9,
    Icao,
    German,
    French,
}

const SYSTEMS: [System; 5] = [
    System::BgnPcgn,
    System::Iso9,
    System::Icao,
    System::German,
    System::French,
];

/// One lower-case Cyrillic letter in `sys`, folded (no diacritics); `None` for a
/// character outside the Russian alphabet.
fn letter(sys: System, c: char) -> Option<&'static str> {
    use System::*;
    Some(match (c, sys) {
        ('а', _) => "a",
        ('б', _) => "b",
        ('в', German) => "w",
        ('в', _) => "v",
        ('г', _) => "g",
        ('д', _) => "d",
        ('е' | 'э', _) => "e",
        ('ё', BgnPcgn) => "yo",
        ('ё', German) => "jo",
        ('ё', French) => "io",
        ('ё', _) => "e",
        ('ж', German) => "sch",
        ('ж', French) => "j",
        ('ж', Iso9) => "z",
        ('ж', _) => "zh",
        ('з', German) => "s",
        ('з', _) => "z",
        ('и', _) => "i",
        ('й', BgnPcgn) => "y",
        ('й', Iso9) => "j",
        ('й', German) => "j",
        ('й', _) => "i",
        ('к', _) => "k",
        ('л', _) => "l",
        ('м', _) => "m",
        ('н', _) => "n",
        ('о', _) => "o",
        ('п', _) => "p",
        ('р', _) => "r",
        ('с', _) => "s",
        ('т', _) => "t",
        ('у', French) => "ou",
        ('у', _) => "u",
        ('ф', _) => "f",
        ('х', Iso9) => "h",
        ('х', German) => "ch",
        ('х', _) => "kh",
        ('ц', Iso9) => "c",
        ('ц', German) => "z",
        ('ц', _) => "ts",
        ('ч', Iso9) => "c",
        ('ч', German) => "tsch",
        ('ч', French) => "tch",
        ('ч', _) => "ch",
        ('ш', Iso9) => "s",
        ('ш', German) => "sch",
        ('ш', French) => "ch",
        ('ш', _) => "sh",
        ('щ', Iso9) => "s",
        ('щ', German) => "schtsch",
        ('щ', French) => "chtch",
        ('щ', _) => "shch",
        ('ъ', Icao) => "ie",
        ('ъ' | 'ь', _) => "",
        ('ы', _) => "y",
        ('ю', BgnPcgn) => "yu",
        ('ю', Iso9) => "u",
        ('ю', Icao) => "iu",
        ('ю', German) => "ju",
        ('ю', French) => "iou",
        ('я', BgnPcgn) => "ya",
        ('я', Iso9) => "a",
        ('я', Icao) => "ia",
        ('я', German) => "ja",
        ('я', French) => "ia",
        _ => return None,
    })
}

/// The distinct romanizations of a lower-case Russian token (`Иван` → ivan, iwan),
/// none when it has a character outside the Russian alphabet.
pub fn romanizations(token: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sys in SYSTEMS {
        let mut s = String::with_capacity(token.len());
        for c in token.chars() {
            match letter(sys, c) {
                Some(l) => s.push_str(l),
                None => return Vec::new(),
            }
        }
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system() {
        let r = romanizations("кузнецов");
        for s in ["kuznetsov", "kuznecov", "kusnezow"] {
            assert!(r.iter().any(|x| x == s), "{s} in {r:?}");
        }
        assert!(romanizations("щука").contains(&"schtschuka".to_string()));
        assert!(romanizations("dupont").is_empty());
    }
}
