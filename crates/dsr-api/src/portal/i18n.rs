//! The languages people read dsr in: [`Lang`], and [`Catalog`], a set of compiled-in
//! TOML files, one per language (flat `key = "text"`, `{name}` placeholders). The
//! portal's pages ([`PORTAL`], `portal/i18n/`) and the notifications
//! (`crate::notify`, `notify/i18n/`) each have one. Adding a language is a file per
//! catalog and a line in [`Lang`]; [`Catalog::check`] (run by each catalog's test)
//! makes sure every file has the English keys with the same placeholders.

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

/// Texts in every language, from compiled-in TOML files; parsed on first use.
pub struct Catalog {
    /// What the texts are for (in log lines).
    name: &'static str,
    /// One file per language, English first.
    sources: [(Lang, &'static str); 2],
    loaded: OnceLock<HashMap<Lang, HashMap<String, String>>>,
}

/// The portal's pages.
pub static PORTAL: Catalog = Catalog::new(
    "portal",
    [
        (Lang::En, include_str!("../../portal/i18n/en.toml")),
        (Lang::Fr, include_str!("../../portal/i18n/fr.toml")),
    ],
);

impl Catalog {
    /// A catalog of `sources` (English first).
    pub const fn new(name: &'static str, sources: [(Lang, &'static str); 2]) -> Catalog {
        Catalog {
            name,
            sources,
            loaded: OnceLock::new(),
        }
    }

    fn maps(&self) -> &HashMap<Lang, HashMap<String, String>> {
        self.loaded.get_or_init(|| {
            self.sources
                .iter()
                .map(|(l, text)| {
                    // Compiled in and checked by the tests; a broken file shows keys or
                    // English instead of text, it does not stop the server.
                    let map = toml::from_str::<HashMap<String, String>>(text).unwrap_or_else(|e| {
                        tracing::error!(catalog = self.name, lang = l.code(), error = %e, "a catalog does not parse");
                        HashMap::new()
                    });
                    (*l, map)
                })
                .collect()
        })
    }

    /// The text of a key (English if this language lacks it; the key itself if no file
    /// has it, so a missing text is visible, never a blank).
    pub fn t<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        let c = self.maps();
        match c
            .get(&lang)
            .and_then(|m| m.get(key))
            .or_else(|| c.get(&Lang::En).and_then(|m| m.get(key)))
        {
            Some(s) => s.as_str(),
            None => {
                tracing::warn!(catalog = self.name, key, "no text for a key");
                key
            }
        }
    }

    /// The text of a key with its `{name}` placeholders filled.
    pub fn tf(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(lang, key).to_owned();
        for (k, v) in args {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    /// Whether the English file has `key`.
    pub fn has(&self, key: &str) -> bool {
        self.maps()
            .get(&Lang::En)
            .is_some_and(|m| m.contains_key(key))
    }

    /// Checks the files: each parses, has exactly the English keys, each text with the
    /// same placeholders as the English one and not blank. Returns the number of keys.
    pub fn check(&self) -> Result<usize, String> {
        fn placeholders(s: &str) -> std::collections::BTreeSet<&str> {
            let mut out = std::collections::BTreeSet::new();
            let mut rest = s;
            while let Some(i) = rest.find('{') {
                let Some(j) = rest[i..].find('}') else { break };
                out.insert(&rest[i + 1..i + j]);
                rest = &rest[i + j + 1..];
            }
            out
        }
        let mut parsed = Vec::new();
        for (l, text) in &self.sources {
            let m: HashMap<String, String> = toml::from_str(text)
                .map_err(|e| format!("{} {}: does not parse: {e}", self.name, l.code()))?;
            parsed.push((*l, m));
        }
        let en = &parsed[0].1;
        for (l, m) in &parsed {
            let c = l.code();
            for (k, v) in en {
                let other = m
                    .get(k)
                    .ok_or_else(|| format!("{} {c} lacks {k}", self.name))?;
                if placeholders(v) != placeholders(other) {
                    return Err(format!("{} {c}: {k} has other placeholders", self.name));
                }
                if other.trim().is_empty() {
                    return Err(format!("{} {c}: {k} is empty", self.name));
                }
            }
            if let Some(k) = m.keys().find(|k| !en.contains_key(*k)) {
                return Err(format!("{} {c} has {k}, which English lacks", self.name));
            }
        }
        Ok(en.len())
    }
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

    /// The portal's text of a key ([`Catalog::t`] of [`PORTAL`]).
    pub fn t(self, key: &str) -> &str {
        PORTAL.t(self, key)
    }

    /// The portal's text of a key with its placeholders filled.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        PORTAL.tf(self, key, args)
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

    #[test]
    fn every_catalog_parses_and_has_every_key_with_the_same_placeholders() {
        let keys = PORTAL.check().unwrap_or_else(|e| panic!("{e}"));
        assert!(keys > 50, "the English catalog is the reference");
    }

    #[test]
    fn the_check_finds_a_missing_key_and_other_placeholders() {
        let lacks = Catalog::new(
            "t",
            [
                (Lang::En, "a = \"x {n}\"\nb = \"y\""),
                (Lang::Fr, "a = \"x {n}\""),
            ],
        );
        assert!(lacks.check().unwrap_err().contains("lacks b"));
        let other = Catalog::new(
            "t",
            [(Lang::En, "a = \"x {n}\""), (Lang::Fr, "a = \"x {m}\"")],
        );
        assert!(other.check().unwrap_err().contains("other placeholders"));
        let extra = Catalog::new(
            "t",
            [(Lang::En, "a = \"x\""), (Lang::Fr, "a = \"x\"\nz = \"y\"")],
        );
        assert!(extra.check().unwrap_err().contains("English lacks"));
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
