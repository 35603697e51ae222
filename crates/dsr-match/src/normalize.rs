//! Normalization: every kind of term to the keys it is indexed and looked up by.
//!
//! Identifiers (email, phone, handle, ids) become *exact keys*: canonical strings that
//! every common written form of the same identifier maps to, hashed into 64-bit
//! fingerprints for the index. Names and addresses become *token forms*: folded tokens
//! with alternative spellings (language fold, transliteration) that the fuzzy token index
//! matches in any order, with typos.

use crate::text;
use dsr_model::{SubjectKind, TermType};
use std::hash::BuildHasher;

/// What an exact key stands for. The tag is part of the fingerprint, so an email and an
/// id with the same text never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// `local@domain`, lower case, IDN domain in ASCII (punycode).
    Email,
    /// The mailbox: `+tag` removed, Gmail dots removed, googlemail → gmail.
    EmailCanonical,
    /// E.164 (`+33612345678`).
    PhoneE164,
    /// Digits only, for numbers that could not be placed in a country.
    PhoneDigits,
    /// `platform:handle`.
    Handle,
    /// The handle on any platform (for a bare `@handle`).
    HandleAny,
    /// A user id.
    UserId,
    /// An external contact id.
    ExternalContactId,
    /// A dialer contact id.
    DialerContactId,
    /// An id in another system.
    ExternalId,
    /// A whole name without spaces (CJK names are often written so).
    NameCompact,
}

impl KeyKind {
    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Email => "email",
            KeyKind::EmailCanonical => "email.mailbox",
            KeyKind::PhoneE164 => "phone.e164",
            KeyKind::PhoneDigits => "phone.digits",
            KeyKind::Handle => "handle",
            KeyKind::HandleAny => "handle.any_platform",
            KeyKind::UserId => "userId",
            KeyKind::ExternalContactId => "externalContactId",
            KeyKind::DialerContactId => "dialerContactId",
            KeyKind::ExternalId => "externalId",
            KeyKind::NameCompact => "name.compact",
        }
    }
    /// The id key kind for a subject kind.
    pub fn for_subject(kind: SubjectKind) -> KeyKind {
        match kind {
            SubjectKind::User => KeyKind::UserId,
            SubjectKind::ExternalContact => KeyKind::ExternalContactId,
            SubjectKind::DialerContact => KeyKind::DialerContactId,
        }
    }
}

/// One exact key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExactKey {
    /// What it stands for.
    pub kind: KeyKind,
    /// The canonical text.
    pub text: String,
}

const FP_SEED: u64 = 0x6473_725f_6d61_7463; // "dsr_matc"

/// A 64-bit fingerprint of a key: fixed seed, so it is stable within a build.
pub fn fingerprint(kind: KeyKind, text: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(FP_SEED).hash_one((kind as u8, text))
}

impl ExactKey {
    fn new(kind: KeyKind, text: impl Into<String>) -> Self {
        ExactKey {
            kind,
            text: text.into(),
        }
    }
    /// The key's fingerprint.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(self.kind, &self.text)
    }
}

// ---------------------------------------------------------------------------------
// Email

/// Extracts the address from `Name <a@b>` / `mailto:a@b?subject=…` forms.
fn email_core(raw: &str) -> &str {
    let mut s = raw.trim();
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>'))
        && open < close
    {
        s = &s[open + 1..close];
    }
    let s = s.trim();
    let s = s
        .strip_prefix("mailto:")
        .or_else(|| s.strip_prefix("MAILTO:"))
        .unwrap_or(s);
    s.split('?').next().unwrap_or(s).trim()
}

/// Normalizes an email address to its keys: the address (case folded, IDN domain in
/// punycode) and, when different, the mailbox (`+tag` removed; for Gmail, dots removed
/// and googlemail.com → gmail.com).
pub fn email_keys(raw: &str) -> Result<Vec<ExactKey>, String> {
    let core = email_core(raw);
    // NFKC already maps the full-width and small commercial at (U+FF20, U+FE6B) to '@'.
    let folded = text::nfkc_lower(core);
    let Some((local, domain)) = folded.rsplit_once('@') else {
        return Err(format!("{raw:?} is not an email address (no @)"));
    };
    let local = local.trim().trim_matches('"');
    let domain = domain.trim().trim_end_matches('.');
    if local.is_empty() || domain.is_empty() || local.contains(char::is_whitespace) {
        return Err(format!("{raw:?} is not an email address"));
    }
    // Plain ASCII host names (already lower-cased) are their own IDNA form; only
    // Unicode domains go through UTS #46 mapping and Punycode.
    let plain = domain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !domain.split('.').any(|l| {
            l.is_empty() || l.starts_with('-') || l.ends_with('-') || l.starts_with("xn--")
        });
    let domain = match if plain {
        Ok(domain.to_owned())
    } else {
        idna::domain_to_ascii(domain)
    } {
        Ok(d) if d.contains('.') || d == "localhost" => d,
        _ => return Err(format!("{raw:?}: the domain {domain:?} is not valid")),
    };
    let join = |a: &str, b: &str| {
        let mut out = String::with_capacity(a.len() + 1 + b.len());
        out.push_str(a);
        out.push('@');
        out.push_str(b);
        out
    };
    let mut keys = Vec::with_capacity(2);
    keys.push(ExactKey::new(KeyKind::Email, join(local, &domain)));
    let gmail = matches!(domain.as_str(), "gmail.com" | "googlemail.com");
    let mut mailbox = local.split('+').next().unwrap_or(local).to_owned();
    if mailbox.is_empty() {
        mailbox = local.to_owned();
    }
    let canon_domain = if gmail { "gmail.com" } else { domain.as_str() };
    if gmail {
        mailbox.retain(|c| c != '.');
    }
    let canonical = join(&mailbox, canon_domain);
    if canonical != keys[0].text {
        keys.push(ExactKey::new(KeyKind::EmailCanonical, canonical));
    } else {
        keys.push(ExactKey::new(KeyKind::EmailCanonical, keys[0].text.clone()));
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------------
// Phone

pub use crate::phone::{Region, parse_region};

/// Whether a phone number can exist in its country (libphonenumber's validity), `None`
/// when it is not a number at all: what an import warns about. Matching never needs
/// it (a key is a key), so it is not computed on the lookup path.
pub fn phone_is_valid(raw: &str, region: Option<Region>) -> Option<bool> {
    crate::phone::is_valid(raw, region)
}

/// Normalizes a phone number: E.164 when it can be placed in a country (international
/// form, or national form with a `region`), otherwise its digits. Extensions
/// (`ext. 12`, `;ext=12`, `#12`) are ignored.
pub fn phone_keys(raw: &str, region: Option<Region>) -> Result<Vec<ExactKey>, String> {
    Ok(vec![match place_phone(raw, region)? {
        Placed::Intl(p) => ExactKey::new(KeyKind::PhoneE164, p.e164()),
        Placed::UnknownCode(d) => ExactKey::new(KeyKind::PhoneE164, format!("+{d}")),
        Placed::Digits(d) => ExactKey::new(KeyKind::PhoneDigits, d),
    }])
}

enum Placed {
    Intl(crate::phone::Parsed),
    /// International form with a calling code we do not know: kept as written.
    UnknownCode(String),
    /// National form without a region.
    Digits(String),
}

fn place_phone(raw: &str, region: Option<Region>) -> Result<Placed, String> {
    let folded = text::nfkc_lower(raw);
    let mut body = folded.as_str();
    for marker in [
        ";ext=",
        " ext",
        "ext.",
        " x ",
        " x",
        "#",
        "poste",
        "durchwahl",
        ",",
        ";",
    ] {
        if let Some(i) = body.find(marker)
            && i > 0
        {
            body = &body[..i];
        }
    }
    let body = body.trim().strip_prefix("tel:").unwrap_or(body.trim());
    // "+33 (0)6 12…": the trunk zero in brackets is not dialled internationally.
    let owned;
    let body = if body.contains("(0)") {
        owned = body.replacen("(0)", "", 1);
        owned.as_str()
    } else {
        body
    };
    if body.chars().any(|c| c.is_alphabetic()) {
        return Err(format!("{raw:?} is not a phone number (it has letters)"));
    }
    // "(+33) 6 12…", "[+49] …": the plus may sit inside a leading bracket.
    let lead = body.trim_start_matches(|c: char| c.is_whitespace() || c == '(' || c == '[');
    let plus = lead.starts_with('+');
    if lead.chars().skip(1).any(|c| c == '+') {
        return Err(format!("{raw:?} is not a phone number (a '+' inside)"));
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return Err(format!("{raw:?} is not a phone number (too few digits)"));
    }
    if digits.len() > 17 {
        return Err(format!("{raw:?} is not a phone number (too many digits)"));
    }
    let intl = if plus {
        Some(digits.as_str())
    } else if let Some(rest) = digits.strip_prefix("00")
        && !rest.starts_with('0')
    {
        Some(rest)
    } else {
        None
    };
    Ok(match intl {
        Some(d) => match crate::phone::parse_international(d) {
            Some(p) => Placed::Intl(p),
            None => Placed::UnknownCode(d.to_owned()),
        },
        // National form: libphonenumber places it (its per-region metadata is
        // maintained; our table disagreed on 13 % of the regions' example numbers,
        // tools/phone-compare), then our split of the international digits, which
        // agrees with it everywhere; our own rule only when the library cannot read it.
        None => match region {
            Some(r) => match crate::phone::place_national(body, r)
                .or_else(|| crate::phone::place_national(&digits, r))
            {
                Some(d) => match crate::phone::parse_international(&d) {
                    Some(p) => Placed::Intl(p),
                    None => Placed::UnknownCode(d),
                },
                None => match crate::phone::parse_national(&digits, r) {
                    Some(p) => Placed::Intl(p),
                    None => Placed::Digits(digits),
                },
            },
            None => Placed::Digits(digits),
        },
    })
}

/// Query-side phone keys: [`phone_keys`] plus, for a number placed in a country, the
/// digits of its national and international written forms, so numbers stored in
/// national form without a region are still found (as a weaker, digits-only match).
pub fn phone_query_keys(raw: &str, region: Option<Region>) -> Result<Vec<ExactKey>, String> {
    Ok(match place_phone(raw, region)? {
        Placed::Intl(p) => vec![
            ExactKey::new(KeyKind::PhoneE164, p.e164()),
            ExactKey::new(KeyKind::PhoneDigits, p.national_digits()),
            ExactKey::new(KeyKind::PhoneDigits, format!("{}{}", p.cc, p.nsn)),
        ],
        Placed::UnknownCode(d) => vec![ExactKey::new(KeyKind::PhoneE164, format!("+{d}"))],
        Placed::Digits(d) => vec![ExactKey::new(KeyKind::PhoneDigits, d)],
    })
}

// ---------------------------------------------------------------------------------
// Handles

/// The canonical platform name for a platform name or alias, or for a host name.
pub fn canonical_platform(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("www.").unwrap_or(&n);
    let n = n.strip_prefix("m.").unwrap_or(n);
    let n = n.strip_prefix("mobile.").unwrap_or(n);
    Some(match n {
        "twitter" | "x" | "twitter.com" | "x.com" | "tw" => "twitter",
        "instagram" | "ig" | "instagram.com" | "instagr.am" => "instagram",
        "facebook" | "fb" | "facebook.com" | "fb.com" | "messenger" | "m.me" => "facebook",
        "linkedin" | "linkedin.com" => "linkedin",
        "tiktok" | "tiktok.com" => "tiktok",
        "youtube" | "youtube.com" | "yt" => "youtube",
        "github" | "github.com" => "github",
        "telegram" | "t.me" | "telegram.me" => "telegram",
        "whatsapp" | "wa" | "wa.me" | "whatsapp.com" => "whatsapp",
        "threads" | "threads.net" => "threads",
        "bluesky" | "bsky" | "bsky.app" => "bluesky",
        "snapchat" | "snapchat.com" => "snapchat",
        "pinterest" | "pinterest.com" => "pinterest",
        "reddit" | "reddit.com" => "reddit",
        "mastodon" => "mastodon",
        "line" => "line",
        "vk" | "vk.com" => "vk",
        "xing" | "xing.com" => "xing",
        _ => return None,
    })
}

/// Splits a handle written as a URL, `platform:@x`, `@x` or `@user@instance` into its
/// platform (when the written form tells) and its canonical handle.
pub fn parse_handle(
    platform_hint: Option<&str>,
    raw: &str,
) -> Result<(Option<String>, String), String> {
    let s = text::nfkc_lower(raw.trim());
    let mut platform: Option<String> = platform_hint.filter(|p| !p.trim().is_empty()).map(|p| {
        canonical_platform(p).map_or_else(|| p.trim().to_ascii_lowercase(), str::to_owned)
    });
    let mut handle = s.as_str();
    let url_body = handle
        .strip_prefix("https://")
        .or_else(|| handle.strip_prefix("http://"));
    let looks_like_url = url_body.is_some()
        || handle
            .split('/')
            .next()
            .is_some_and(|h| canonical_platform(h).is_some() && h.contains('.'));
    if looks_like_url {
        let body = url_body.unwrap_or(handle);
        let body = body.split(['?', '#']).next().unwrap_or(body);
        let mut parts = body.split('/').filter(|p| !p.is_empty());
        let host = parts.next().unwrap_or("");
        let path: Vec<&str> = parts.collect();
        let plat = canonical_platform(host);
        platform = plat.map(str::to_owned).or(platform);
        let pick = match (plat, path.as_slice()) {
            (Some("linkedin"), ["in" | "pub", h, ..]) => Some(*h),
            (Some("reddit"), ["user" | "u", h, ..]) => Some(*h),
            (Some("bluesky"), ["profile", h, ..]) => Some(*h),
            (Some("facebook"), ["profile.php"]) => s
                .split("id=")
                .nth(1)
                .map(|r| r.split('&').next().unwrap_or(r)),
            (Some("youtube"), ["c" | "user" | "channel", h, ..]) => Some(*h),
            (_, [h, ..]) => Some(*h),
            (_, []) => None,
        };
        match pick {
            Some(h) => handle = h,
            None => return Err(format!("{raw:?}: the profile URL names no handle")),
        }
    } else if let Some((p, rest)) = handle.split_once(':')
        && let Some(plat) = canonical_platform(p)
    {
        platform = Some(plat.to_owned());
        handle = rest;
    }
    let handle = handle.trim().trim_start_matches('@').trim_end_matches('/');
    // "@user@instance" (Mastodon and other fediverse servers).
    if handle.contains('@') && platform.is_none() {
        platform = Some("mastodon".to_owned());
    }
    if handle.is_empty() || handle.contains(char::is_whitespace) {
        return Err(format!("{raw:?} is not a handle"));
    }
    let mut h = handle.to_owned();
    if platform.as_deref() == Some("facebook") {
        h.retain(|c| c != '.');
    }
    Ok((platform, h))
}

/// Handle keys: `platform:handle` when the platform is known, and the handle on any
/// platform. For WhatsApp the handle is a phone number and is keyed as one too.
pub fn handle_keys(
    platform_hint: Option<&str>,
    raw: &str,
    region: Option<Region>,
) -> Result<Vec<ExactKey>, String> {
    let (platform, h) = parse_handle(platform_hint, raw)?;
    let mut keys = Vec::with_capacity(2);
    if let Some(p) = &platform {
        keys.push(ExactKey::new(KeyKind::Handle, format!("{p}:{h}")));
        if p == "whatsapp"
            && let Ok(mut phone) = phone_keys(&h, region)
        {
            keys.append(&mut phone);
        }
    }
    keys.push(ExactKey::new(KeyKind::HandleAny, h));
    Ok(keys)
}

// ---------------------------------------------------------------------------------
// Ids

/// Normalizes an id: NFKC, trimmed, case folded, without surrounding braces or quotes and
/// without a `urn:uuid:` prefix.
pub fn id_text(raw: &str) -> String {
    let s = text::nfkc_lower(raw.trim());
    let s = s.trim_matches(|c| matches!(c, '{' | '}' | '"' | '\'' | '<' | '>'));
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    s.trim().to_owned()
}

/// Id keys for a term of one of the id types (`Id` means every kind of id).
pub fn id_keys(ty: TermType, raw: &str) -> Vec<ExactKey> {
    let t = id_text(raw);
    let kinds: &[KeyKind] = match ty {
        TermType::UserId => &[KeyKind::UserId],
        TermType::ExternalContactId => &[KeyKind::ExternalContactId],
        TermType::DialerContactId => &[KeyKind::DialerContactId],
        TermType::ExternalId => &[KeyKind::ExternalId],
        _ => &[
            KeyKind::UserId,
            KeyKind::ExternalContactId,
            KeyKind::DialerContactId,
            KeyKind::ExternalId,
        ],
    };
    kinds.iter().map(|k| ExactKey::new(*k, t.clone())).collect()
}

// ---------------------------------------------------------------------------------
// Names

/// One token position of a name or address, with its spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// NFKC, case folded, diacritics removed.
    pub primary: String,
    /// Other spellings: the language fold (ü → ue) and the transliteration to Latin
    /// script, with the method a match through them counts as.
    pub alts: Vec<(String, crate::Method)>,
    /// Particles (von, van, de…) and other low-information words: matched when present,
    /// not required.
    pub optional: bool,
}

/// A name or address as token positions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenForm {
    /// Word positions.
    pub words: Vec<Position>,
    /// Number tokens (house numbers, postcodes), matched exactly. Empty for names.
    pub numbers: Vec<String>,
    /// Which of `numbers` follow a unit designator ("app. 27", "кв. 15"): a flat, not
    /// a house.
    pub unit_numbers: Vec<bool>,
    /// Whole-name keys without spaces (for scripts written without spaces).
    pub compact: Vec<String>,
}

const HONORIFICS: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
    "sir",
    "dame",
    "madam",
    "mme",
    "mlle",
    "mm",
    "monsieur",
    "madame",
    "mademoiselle",
    "herr",
    "frau",
    "hr",
    "dhr",
    "mevr",
    "mw",
    "meneer",
    "mevrouw",
    "sr",
    "sra",
    "srta",
    "senor",
    "senora",
    "senorita",
    "dona",
    "sig",
    "sigra",
    "signor",
    "signora",
    "pani",
    "sayin",
    "г",
    "гн",
    "гжа",
    "господин",
    "госпожа",
    "ing",
    "mag",
    "phd",
    "jr",
    "esq",
    "md",
    "ii",
    "iii",
    "bey",
    "hanim",
];
/// Honorifics and generational suffixes written after the name.
const SUFFIXES: &[&str] = &[
    "jr", "sr", "phd", "esq", "md", "ii", "iii", "bey", "hanim", "efendi",
];
/// Honorifics that are also given names: only dropped when at least two tokens remain.
const AMBIGUOUS_HONORIFICS: &[&str] = &["m", "don", "pan", "bay", "bayan", "fr", "st"];
const PARTICLES: &[&str] = &[
    "von", "van", "der", "den", "de", "del", "della", "di", "da", "du", "des", "la", "le", "ter",
    "ten", "zu", "y", "e", "dos", "das", "bin", "ibn", "al", "el",
];
const JA_SUFFIXES: &[&str] = &["さま", "様", "さん", "殿", "氏", "くん", "君", "ちゃん"];

fn position(primary: String, lower: &str, optional: bool) -> Position {
    let mut alts = Vec::new();
    if let Some(f) = text::language_fold(lower)
        && f != primary
    {
        alts.push((f, crate::Method::Normalized));
    }
    // Kanji names: their Japanese readings (deunicode would read them as Chinese).
    if text::has_cjk(&primary) {
        for r in crate::readings::readings(&primary) {
            if r != primary && !alts.iter().any(|(a, _)| *a == r) {
                alts.push((r, crate::Method::Transliterated));
            }
        }
    }
    if let Some(t) = text::transliterate(&primary)
        && t != primary
    {
        alts.push((t, crate::Method::Transliterated));
        // Russian names are written in five romanization systems; each is a key.
        for r in crate::romanize::romanizations(lower) {
            if !alts.iter().any(|(a, _)| *a == r) {
                alts.push((r, crate::Method::Transliterated));
            }
        }
    }
    Position {
        primary,
        alts,
        optional,
    }
}

/// Normalizes a person's name: NFKC, case fold, honorifics removed, tokens with their
/// diacritic-free primary form, language-fold and transliterated alternatives; CJK names
/// also get compact keys (no spaces, both orders for two tokens).
pub fn name_form(raw: &str) -> TokenForm {
    let lower = text::nfkc_lower(raw);
    let mut lower_tokens = text::tokens(&lower);
    // Japanese honorific suffixes attached to the name ("田中様").
    for t in lower_tokens.iter_mut() {
        for suf in JA_SUFFIXES {
            if t.len() > suf.len() && text::has_cjk(t) && t.ends_with(suf) {
                t.truncate(t.len() - suf.len());
            }
        }
    }
    lower_tokens.retain(|t| !JA_SUFFIXES.contains(&t.as_str()));
    // A token of combining marks only ("ͺ" is a space and U+0345) folds to nothing.
    lower_tokens.retain(|t| !text::strip_diacritics(t).is_empty());
    // A Japanese name written without a space ("山田太郎"): surname and given name, when
    // the readings table knows both, so that each part has its readings.
    if lower_tokens.len() == 1
        && text::has_cjk(&lower_tokens[0])
        && let Some((s, g)) = crate::readings::split_full_name(&lower_tokens[0])
    {
        lower_tokens = vec![s.to_owned(), g.to_owned()];
    }
    let folded: Vec<String> = lower_tokens
        .iter()
        .map(|t| text::strip_diacritics(t))
        .collect();
    // Suffixes ("Jr", "III", "Bey") are only dropped at the end, below.
    let is_hon = |f: &str, remaining: usize| {
        HONORIFICS.contains(&f) && remaining >= 1
            || AMBIGUOUS_HONORIFICS.contains(&f) && remaining >= 2
    };
    let mut keep: Vec<bool> = vec![true; folded.len()];
    // Leading honorifics ("Mme", "Dr. Prof.") and trailing ones ("Jr", "Bey").
    let mut remaining = folded.len();
    for (i, f) in folded.iter().enumerate() {
        if remaining > 1 && is_hon(f, remaining - 1) {
            keep[i] = false;
            remaining -= 1;
        } else {
            break;
        }
    }
    for i in (0..folded.len()).rev() {
        if keep[i] && remaining > 1 && SUFFIXES.contains(&folded[i].as_str()) {
            keep[i] = false;
            remaining -= 1;
        } else {
            break;
        }
    }
    let kept: Vec<usize> = (0..folded.len()).filter(|&i| keep[i]).collect();
    let non_particles = kept
        .iter()
        .filter(|&&i| !PARTICLES.contains(&folded[i].as_str()))
        .count();
    let last = kept.last().copied();
    let words: Vec<Position> = kept
        .iter()
        .map(|&i| {
            // A particle precedes a name ("van der Berg"); written last it is the name
            // itself ("Jean Le", "Mehmet De").
            let optional =
                non_particles > 0 && Some(i) != last && PARTICLES.contains(&folded[i].as_str());
            position(folded[i].clone(), &lower_tokens[i], optional)
        })
        .collect();
    let mut compact = Vec::new();
    if text::has_cjk(&lower) && !words.is_empty() {
        let fwd: String = words.iter().map(|p| p.primary.as_str()).collect();
        if words.len() == 2 {
            compact.push(format!("{}{}", words[1].primary, words[0].primary));
        }
        compact.push(fwd);
    }
    TokenForm {
        words,
        numbers: Vec::new(),
        unit_numbers: Vec::new(),
        compact,
    }
}

/// Most words of a name given a joined key: four, for a given name and a surname with
/// two particles ("Sanne van den Berg" run together as "Sanne vandenBerg").
pub const MAX_JOINED_WORDS: usize = 4;

/// Whole-name keys of a name written in a script with spaces, for words split or run
/// together ("JeanDupont", "Jean Du Pont" for "Jean Dupont"): the words joined, and for
/// two words also in the other order. Empty for CJK names (their `compact` keys serve)
/// and for one word or more than [`MAX_JOINED_WORDS`].
pub fn joined_keys(form: &TokenForm) -> Vec<String> {
    if !form.compact.is_empty() || !(2..=MAX_JOINED_WORDS).contains(&form.words.len()) {
        return Vec::new();
    }
    let fwd: String = form.words.iter().map(|p| p.primary.as_str()).collect();
    let mut out = vec![fwd];
    if form.words.len() == 2 {
        out.push(format!(
            "{}{}",
            form.words[1].primary, form.words[0].primary
        ));
    }
    out
}

// ---------------------------------------------------------------------------------
// Addresses

/// Canonical forms of street types, directionals and other address words in the main
/// European languages (and Turkish, Russian). Keys are folded (lower case, no
/// diacritics).
pub(crate) fn address_word(w: &str) -> Option<&'static str> {
    Some(match w {
        // English
        "street" | "st" | "str" | "strasse" | "straat" | "straße" => "str",
        "saint" => "st",
        "avenue" | "ave" | "av" | "avda" | "avenida" | "aven" | "avn" => "av",
        "boulevard" | "bd" | "blvd" | "boul" | "bld" | "bulvari" | "bulv" | "blv" => "bd",
        "road" | "rd" => "rd",
        "drive" | "dr" => "dr",
        "lane" | "ln" => "ln",
        "court" | "ct" => "ct",
        "place" | "pl" | "plaza" | "pza" | "plac" | "platz" | "plein" | "piazza" | "pzza" => "pl",
        "square" | "sq" => "sq",
        "north" | "nord" | "noord" | "norte" => "n",
        "south" | "sud" | "zuid" | "sur" => "s",
        "east" | "est" | "oost" | "este" => "e",
        "west" | "ouest" | "oeste" => "w",
        // French
        "rue" | "r" => "rue",
        "chemin" | "ch" | "chem" => "ch",
        "route" | "rte" => "rte",
        "allee" | "all" => "allee",
        "impasse" | "imp" => "imp",
        "faubourg" | "fg" | "fbg" => "fbg",
        "quai" => "quai",
        "cours" | "crs" => "crs",
        // German / Dutch
        "gasse" => "gasse",
        "weg" => "weg",
        "laan" | "ln." => "laan",
        "gracht" | "gr" => "gracht",
        // Spanish / Italian
        "calle" | "c" | "cl" | "cle" => "calle",
        "paseo" | "po" | "pso" => "paseo",
        "carrer" | "cr" => "carrer",
        "via" | "v" => "via",
        "viale" | "vle" => "viale",
        "corso" | "c.so" => "corso",
        // Polish
        "ulica" | "ul" => "ul",
        "aleja" | "al" | "aleje" => "al",
        "osiedle" | "os" => "os",
        // Turkish
        "sokak" | "sok" | "sk" | "sokagi" => "sok",
        "caddesi" | "cad" | "cd" | "cadde" => "cad",
        "mahallesi" | "mah" | "mh" | "mahalle" => "mah",
        // Russian
        "улица" | "ул" => "ул",
        "проспект" | "пр" | "просп" | "пр-т" => "пр",
        "переулок" | "пер" => "пер",
        "шоссе" | "ш" => "ш",
        _ => return None,
    })
}

/// Address words announcing a flat, floor or unit number (among [`address_noise`]).
const UNIT_DESIGNATORS: &[&str] = &[
    "apt",
    "apartment",
    "appt",
    "app",
    "appartement",
    "wohnung",
    "whg",
    "piso",
    "etage",
    "floor",
    "fl",
    "bte",
    "boite",
    "bus",
    "suite",
    "unit",
    "кв",
    "квартира",
    "mieszkanie",
    "m",
    "daire",
    "kat",
    "lok",
];

/// Words that carry no identity in an address: unit designators, number markers,
/// articles and prepositions. Dropped.
pub(crate) fn address_noise(w: &str) -> bool {
    UNIT_DESIGNATORS.contains(&w)
        || matches!(
            w,
            "no" | "nr"
                | "n"
                | "num"
                | "numero"
                | "nº"
                | "n°"
                | "de"
                | "la"
                | "le"
                | "les"
                | "du"
                | "des"
                | "der"
                | "die"
                | "das"
                | "den"
                | "het"
                | "van"
                | "del"
                | "y"
                | "of"
                | "the"
                | "and"
                | "et"
                | "und"
                | "en"
                | "д"
                | "дом"
                | "корп"
                | "no."
                | "bis"
                | "ter"
                | "dom"
        )
}

const STREET_SUFFIXES: &[(&str, &str)] = &[
    ("strasse", "str"),
    ("straat", "str"),
    ("str", "str"),
    ("weg", "weg"),
    ("laan", "laan"),
    ("plein", "pl"),
    ("platz", "pl"),
    ("gasse", "gasse"),
    ("allee", "allee"),
    ("gracht", "gracht"),
    ("kade", "kade"),
    ("dijk", "dijk"),
];

/// The word an OCR misreading of one letter as a digit (Esakov et al. 1994: l↔1, O↔0,
/// S↔5, B↔8) left: one such digit among at least four letters.
fn ocr_digit_word(folded: &str) -> Option<String> {
    let letters = folded.chars().filter(|c| c.is_alphabetic()).count();
    let digits: Vec<char> = folded.chars().filter(|c| c.is_ascii_digit()).collect();
    if letters < 4 || digits.len() != 1 || !matches!(digits[0], '0' | '1' | '5' | '8') {
        return None;
    }
    Some(
        folded
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'l',
                '5' => 's',
                '8' => 'b',
                c => c,
            })
            .collect(),
    )
}

/// Normalizes a postal address: folded tokens, street types and other words canonical in
/// the main European languages, German/Dutch compounds split (Hauptstraße → haupt str),
/// noise words dropped, numbers (house numbers, postcodes) kept as exact tokens.
pub fn address_form(raw: &str) -> TokenForm {
    let lower = text::nfkc_lower(raw);
    // Postcodes written with a separator: "75 002", "00-950", "100-0001", "1234 AB".
    let lower = join_split_numbers(&lower);
    let mut words = Vec::new();
    let mut numbers = Vec::new();
    let mut unit_numbers = Vec::new();
    let mut after_unit = false;
    for tok in text::tokens(&lower) {
        let folded = text::strip_diacritics(&tok);
        if folded.is_empty() {
            continue;
        }
        // A word with one digit that OCR reads for a letter ("A1calá", "5okak",
        // "Pi0trkowska") is that word; postcodes with letters have fewer than four
        // letters ("sw1a", "1234ab") or more digits.
        let (folded, tok) = match ocr_digit_word(&folded) {
            Some(w) => (w.clone(), w),
            None => (folded, tok),
        };
        if folded.chars().any(|c| c.is_ascii_digit()) {
            // "12a", "75002", "1234ab", "sw1a": numbers are exact tokens.
            numbers.push(folded);
            unit_numbers.push(after_unit);
            after_unit = false;
            continue;
        }
        if address_noise(&folded) {
            after_unit |= UNIT_DESIGNATORS.contains(&folded.as_str());
            continue;
        }
        after_unit = false;
        if let Some(canon) = address_word(&folded) {
            words.push(Position {
                primary: canon.to_owned(),
                alts: Vec::new(),
                optional: true,
            });
            continue;
        }
        let mut split = None;
        for (suf, canon) in STREET_SUFFIXES {
            if folded.len() >= suf.len() + 3 && folded.ends_with(suf) {
                split = Some((folded[..folded.len() - suf.len()].to_owned(), *canon));
                break;
            }
        }
        match split {
            Some((stem, canon)) => {
                let stem_lower = tok.chars().take(stem.chars().count()).collect::<String>();
                words.push(position(stem, &stem_lower, false));
                words.push(Position {
                    primary: canon.to_owned(),
                    alts: Vec::new(),
                    optional: true,
                });
            }
            None => words.push(position(folded, &tok, false)),
        }
    }
    TokenForm {
        words,
        numbers,
        unit_numbers,
        compact: Vec::new(),
    }
}

/// Joins digit groups split by a space or hyphen where the result is a postcode shape
/// ("00-950" → "00950", "1234 ab" → "1234ab", "100-0001" → "1000001"), so both written
/// forms give one token.
fn join_split_numbers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if (c == '-' || c == ' ') && i > 0 && chars[i - 1].is_ascii_digit() {
            // digits before
            let mut start = i;
            while start > 0 && chars[start - 1].is_ascii_digit() {
                start -= 1;
            }
            let before = i - start;
            let boundary_before = start == 0 || !chars[start - 1].is_alphanumeric();
            // digits after
            let mut end = i + 1;
            while end < chars.len() && chars[end].is_ascii_digit() {
                end += 1;
            }
            let after = end - (i + 1);
            let boundary_after = end == chars.len() || !chars[end].is_alphanumeric();
            let digit_join = boundary_before
                && boundary_after
                && matches!((before, after), (2, 3) | (3, 4) | (2, 2) | (3, 3) | (4, 3))
                && c == '-';
            // Dutch: "1234 ab" followed by a boundary.
            let nl_join = c == ' '
                && before == 4
                && boundary_before
                && i + 3 <= chars.len()
                && chars[i + 1].is_ascii_alphabetic()
                && chars.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic())
                && chars.get(i + 3).is_none_or(|c| !c.is_alphanumeric());
            if digit_join || nl_join {
                i += 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(keys: &[ExactKey]) -> Vec<String> {
        keys.iter()
            .map(|k| format!("{}={}", k.kind.as_str(), k.text))
            .collect()
    }

    #[test]
    fn an_ocr_digit_in_a_street_name_is_its_letter() {
        let words = |a: &str| {
            address_form(a)
                .words
                .iter()
                .map(|w| w.primary.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(words("Calle A1calá 61"), words("Calle Alcalá 61"));
        assert_eq!(words("Gül 5okak No: 180"), words("Gül Sokak No: 180"));
        // Postcodes with letters stay numbers.
        assert_eq!(
            address_form("SW1A 1AA London").numbers.len(),
            address_form("SW1A 1AA").numbers.len()
        );
        assert!(
            address_form("2511CV Den Haag")
                .numbers
                .contains(&"2511cv".to_string())
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            texts(&email_keys(" Jean.Dupont+News@GMail.com ").unwrap()),
            [
                "email=jean.dupont+news@gmail.com",
                "email.mailbox=jeandupont@gmail.com"
            ]
        );
        assert_eq!(
            texts(&email_keys("Jean <jean@Exämple.fr>").unwrap()),
            [
                "email=jean@xn--exmple-cua.fr",
                "email.mailbox=jean@xn--exmple-cua.fr"
            ]
        );
        assert_eq!(
            texts(&email_keys("ｊｅａｎ＠ｅｘａｍｐｌｅ．ｆｒ").unwrap())[0],
            "email=jean@example.fr"
        );
        assert!(email_keys("not an email").is_err());
        assert!(email_keys("a@").is_err());
    }

    #[test]
    fn phones() {
        let fr = Some(parse_region("fr").unwrap());
        for written in [
            "06 12 34 56 78",
            "+33 6 12 34 56 78",
            "0033612345678",
            "+33 (0)6-12-34-56-78",
            "06.12.34.56.78",
        ] {
            assert_eq!(
                texts(&phone_keys(written, fr).unwrap()),
                ["phone.e164=+33612345678"],
                "{written}"
            );
        }
        assert_eq!(
            texts(&phone_keys("+33 6 12 34 56 78", None).unwrap()),
            ["phone.e164=+33612345678"]
        );
        assert_eq!(
            texts(&phone_keys("06 12 34 56 78", None).unwrap()),
            ["phone.digits=0612345678"]
        );
        let it = Some(parse_region("IT").unwrap());
        assert_eq!(
            texts(&phone_keys("06 1234 5678", it).unwrap()),
            ["phone.e164=+390612345678"]
        );
        assert!(phone_keys("12", fr).is_err());
        assert!(parse_region("zz").is_err());
    }

    #[test]
    fn handles() {
        for (hint, written) in [
            (None, "https://twitter.com/JDupont?lang=fr"),
            (None, "x.com/jdupont"),
            (Some("X"), "@JDupont"),
            (None, "twitter:@jdupont"),
        ] {
            let keys = handle_keys(hint, written, None).unwrap();
            assert_eq!(
                texts(&keys),
                ["handle=twitter:jdupont", "handle.any_platform=jdupont"],
                "{written}"
            );
        }
        assert_eq!(
            texts(&handle_keys(None, "@jdupont", None).unwrap()),
            ["handle.any_platform=jdupont"]
        );
        assert_eq!(
            texts(&handle_keys(None, "https://www.linkedin.com/in/jean-dupont-42/", None).unwrap())
                [0],
            "handle=linkedin:jean-dupont-42"
        );
        assert_eq!(
            texts(&handle_keys(Some("facebook"), "Jean.Dupont", None).unwrap())[0],
            "handle=facebook:jeandupont"
        );
    }

    #[test]
    fn names() {
        let f = name_form("Mme Zoë  MÜLLER-Lüdenscheidt");
        let prim: Vec<&str> = f.words.iter().map(|p| p.primary.as_str()).collect();
        assert_eq!(prim, ["zoe", "muller", "ludenscheidt"]);
        assert_eq!(f.words[1].alts[0].0, "mueller");
        let f = name_form("山田 太郎様");
        assert_eq!(f.compact, ["太郎山田", "山田太郎"]);
        let f = name_form("Don Johnson");
        assert_eq!(f.words.len(), 2);
        let f = name_form("Ludwig van Beethoven");
        assert!(f.words[1].optional && !f.words[2].optional);
    }

    #[test]
    fn addresses() {
        let a = address_form("12, Hauptstraße, 10115 Berlin");
        let b = address_form("Hauptstr. 12 10115 BERLIN");
        assert_eq!(a, b);
        let a = address_form("Kerkstraat 5, 1234 AB Amsterdam");
        assert!(a.numbers.contains(&"1234ab".to_owned()), "{a:?}");
        let a = address_form("ul. Marszałkowska 10, 00-950 Warszawa");
        assert!(a.numbers.contains(&"00950".to_owned()), "{a:?}");
        assert_eq!(a.words[0].primary, "ul");
        assert!(a.words[0].optional);
        assert_eq!(a.words[1].primary, "marszalkowska");
    }
}
