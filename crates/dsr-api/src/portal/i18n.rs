//! The portal's languages: one TOML catalog per language in `portal/i18n/` (flat
//! `key = "text"`, `{name}` placeholders), compiled in. Adding a language is a catalog
//! and a line in [`Lang`]; a test checks every catalog has every key of the English one
//! with the same placeholders.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the fallback for any key a catalog lacks).
    En,
    /// French.
    Fr,
}

const CATALOGS: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../../portal/i18n/en.toml")),
    (Lang::Fr, include_str!("../../portal/i18n/fr.toml")),
];

fn catalogs() -> &'static HashMap<Lang, HashMap<String, String>> {
    static C: OnceLock<HashMap<Lang, HashMap<String, String>>> = OnceLock::new();
    C.get_or_init(|| {
        CATALOGS
            .iter()
            .map(|(l, text)| {
                // The catalogs are compiled in and checked by the tests below; a broken
                // one shows keys instead of text, it does not stop the server.
                let map = toml::from_str::<HashMap<String, String>>(text).unwrap_or_else(|e| {
                    tracing::error!(lang = l.code(), error = %e, "portal: a catalog does not parse");
                    HashMap::new()
                });
                (*l, map)
            })
            .collect()
    })
}

impl Lang {
    /// Every language, in the order the language links show them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language's name in itself (for the language links).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
        }
    }

    /// A language by its code (`fr`, `fr-CA`, `FR`).
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best language of an `Accept-Language` header (English when none fits).
    pub fn negotiate(accept: Option<&str>) -> Lang {
        let Some(accept) = accept else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("");
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Lang::from_code(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The text of a key (English if this catalog lacks it; the key itself if no
    /// catalog has it, so a missing text is visible, never a blank).
    pub fn t(self, key: &str) -> &str {
        let c = catalogs();
        match c
            .get(&self)
            .and_then(|m| m.get(key))
            .or_else(|| c.get(&Lang::En).and_then(|m| m.get(key)))
        {
            Some(s) => s.as_str(),
            None => {
                tracing::warn!(key, "portal: no text for a key");
                key
            }
        }
    }

    /// The text of a key with its `{name}` placeholders filled.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_owned();
        for (k, v) in args {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    /// A date and time as people of this language write it (UTC).
    pub fn datetime(self, at: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Lang::En => at.format("%-d %B %Y, %H:%M UTC").to_string(),
            Lang::Fr => {
                let months = [
                    "janvier",
                    "février",
                    "mars",
                    "avril",
                    "mai",
                    "juin",
                    "juillet",
                    "août",
                    "septembre",
                    "octobre",
                    "novembre",
                    "décembre",
                ];
                use chrono::Datelike;
                let m = months[at.month0() as usize];
                format!(
                    "{} {m} {} à {} UTC",
                    at.day(),
                    at.year(),
                    at.format("%H:%M")
                )
            }
        }
    }

    /// A date as people of this language write it.
    pub fn date(self, at: chrono::DateTime<chrono::Utc>) -> String {
        let full = self.datetime(at);
        match self {
            Lang::En => full.split(',').next().unwrap_or(&full).to_owned(),
            Lang::Fr => full.split(" à ").next().unwrap_or(&full).to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            let Some(j) = rest[i..].find('}') else { break };
            out.insert(rest[i + 1..i + j].to_owned());
            rest = &rest[i + j + 1..];
        }
        out
    }

    #[test]
    fn every_catalog_parses_and_has_every_key_with_the_same_placeholders() {
        let parsed: Vec<(Lang, HashMap<String, String>)> = CATALOGS
            .iter()
            .map(|(l, t)| (*l, toml::from_str(t).expect("catalog parses")))
            .collect();
        let en = &parsed.iter().find(|(l, _)| *l == Lang::En).unwrap().1;
        assert!(en.len() > 50, "the English catalog is the reference");
        for (l, m) in &parsed {
            for (k, v) in en {
                let other = m.get(k).unwrap_or_else(|| panic!("{} lacks {k}", l.code()));
                assert_eq!(
                    placeholders(v),
                    placeholders(other),
                    "{}: {k} has other placeholders",
                    l.code()
                );
                assert!(!other.trim().is_empty(), "{}: {k} is empty", l.code());
            }
            for k in m.keys() {
                assert!(
                    en.contains_key(k),
                    "{} has {k}, which English lacks",
                    l.code()
                );
            }
        }
    }

    #[test]
    fn negotiation_takes_the_best_quality_it_speaks() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr-FR,fr;q=0.9,en;q=0.8")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("de-DE,en;q=0.5,fr;q=0.7")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr;q=0, en")), Lang::En);
        assert_eq!(Lang::negotiate(Some(";;,,q=")), Lang::En);
        assert_eq!(Lang::from_code("FR-ca"), Some(Lang::Fr));
    }

    #[test]
    fn placeholders_are_filled() {
        assert!(
            Lang::Fr
                .tf("request.due", &[("date", "3 mars")])
                .contains("3 mars")
        );
        assert_eq!(Lang::En.t("no.such.key"), "no.such.key");
    }
}
