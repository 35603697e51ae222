//! Normalizers never panic, are idempotent, names are order-independent, and the
//! incrementally maintained index answers like a freshly built one.

use dsr_match::{Directory, MatchConfig, SearchOptions, classify, normalize};
use dsr_model::{Subject, SubjectId, SubjectKind, Term, TermType};
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-zA-Z0-9@+.()\\- ]{0,30}",
        "[àéüößçłışğЖжタナカ山田 ]{0,20}",
        "\\PC{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn normalizers_never_panic(s in any_text()) {
        let _ = classify(&s);
        let _ = normalize::email_keys(&s);
        let _ = normalize::phone_keys(&s, Some(normalize::parse_region("FR").unwrap()));
        let _ = normalize::phone_keys(&s, None);
        let _ = normalize::handle_keys(None, &s, None);
        let _ = normalize::name_form(&s);
        let _ = normalize::address_form(&s);
        let _ = normalize::id_keys(TermType::Id, &s);
    }

    #[test]
    fn email_normalization_is_idempotent(local in "[a-zA-Z0-9._+]{1,12}", domain in "[a-zA-Zäö]{1,10}\\.(fr|de|com)") {
        let raw = format!("{local}@{domain}");
        if let Ok(keys) = normalize::email_keys(&raw) {
            let again = normalize::email_keys(&keys[0].text).unwrap();
            prop_assert_eq!(&again[0].text, &keys[0].text);
        }
    }

    #[test]
    fn phone_normalization_is_idempotent(digits in "[1-9][0-9]{8,11}") {
        let raw = format!("+{digits}");
        if let Ok(keys) = normalize::phone_keys(&raw, None) {
            let again = normalize::phone_keys(&keys[0].text, None).unwrap();
            prop_assert_eq!(&again[0].text, &keys[0].text);
        }
    }

    #[test]
    fn name_tokens_are_idempotent(s in any_text()) {
        let f = normalize::name_form(&s);
        let joined: Vec<String> = f.words.iter().map(|w| w.primary.clone()).collect();
        let again = normalize::name_form(&joined.join(" "));
        let again: Vec<String> = again.words.iter().map(|w| w.primary.clone()).collect();
        prop_assert_eq!(joined, again);
    }

    #[test]
    fn name_matching_is_order_independent(
        tokens in prop::collection::vec("[A-Za-zéüłış]{2,9}", 2..4),
        rot in 0usize..3,
    ) {
        // Honorifics and particles are positional ("Mme" leads, "Jr" trails): the property
        // is about the name's own tokens.
        let form = normalize::name_form(&tokens.join(" "));
        prop_assume!(form.words.len() == tokens.len() && form.words.iter().all(|w| !w.optional));
        let mut d = Directory::new(MatchConfig::default()).unwrap();
        let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("x").unwrap());
        s.names.push(tokens.join(" "));
        d.upsert(s).unwrap();
        let mut other = Subject::new(SubjectKind::ExternalContact, SubjectId::new("y").unwrap());
        other.names.push(format!("{} Zzyzx", tokens[0]));
        d.upsert(other).unwrap();
        let mut shuffled = tokens.clone();
        shuffled.rotate_left(rot % tokens.len());
        let form2 = normalize::name_form(&shuffled.join(" "));
        prop_assume!(form2.words.len() == tokens.len() && form2.words.iter().all(|w| !w.optional));
        let q1 = d.search(&Term::typed(TermType::Name, tokens.join(" ")).unwrap(), &SearchOptions::default()).unwrap();
        let q2 = d.search(&Term::typed(TermType::Name, shuffled.join(" ")).unwrap(), &SearchOptions::default()).unwrap();
        let a: Vec<(String, f32)> = q1.matches.iter().map(|m| (m.subject_id.to_string(), m.score)).collect();
        let b: Vec<(String, f32)> = q2.matches.iter().map(|m| (m.subject_id.to_string(), m.score)).collect();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.first().map(|x| x.0.as_str()), Some("x"));
    }
}

/// One step of an index history: upsert a subject built from small pools (so values
/// collide across subjects), or remove one.
#[derive(Debug, Clone)]
enum Step {
    Upsert {
        id: u8,
        name: u8,
        email: u8,
        phone: u8,
        address: u8,
    },
    Remove(u8),
}

const NAMES: &[&str] = &[
    "Jean Dupont",
    "Jean Dupond",
    "Anna Nowak",
    "Jürgen Müller",
    "Иван Петров",
    "山田 太郎",
    "Daan de Vries",
];
const ADDRESSES: &[&str] = &[
    "12 rue de la Paix, 75002 Paris",
    "14 rue de la Paix, 75002 Paris",
    "Hauptstraße 5, 10115 Berlin",
    "Molenweg 108, 2511 CV Den Haag",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..6, 0u8..7, 0u8..5, 0u8..5, 0u8..4).prop_map(|(id, name, email, phone, address)| {
            Step::Upsert { id, name, email, phone, address }
        }),
        1 => (0u8..6).prop_map(Step::Remove),
    ]
}

fn build(id: u8, name: u8, email: u8, phone: u8, address: u8) -> Subject {
    let mut s = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new(format!("s{id}")).unwrap(),
    );
    s.names.push(NAMES[name as usize].into());
    s.emails.push(format!("person{email}@example.org"));
    s.phones.push(format!("06 12 34 56 7{phone}"));
    s.addresses.push(ADDRESSES[address as usize].into());
    s
}

fn answers(d: &Directory) -> Vec<Vec<(String, f32)>> {
    let mut terms: Vec<Term> = NAMES
        .iter()
        .map(|n| Term::typed(TermType::Name, *n).unwrap())
        .collect();
    terms.extend(
        ADDRESSES
            .iter()
            .map(|a| Term::typed(TermType::Address, *a).unwrap()),
    );
    terms.extend((0..5).map(|i| Term::parse(&format!("person{i}@example.org")).unwrap()));
    terms.extend((0..5).map(|i| Term::parse(&format!("+33 6 12 34 56 7{i}")).unwrap()));
    terms
        .iter()
        .map(|t| {
            d.search(t, &SearchOptions::default())
                .unwrap()
                .matches
                .iter()
                .map(|m| (m.subject_id.to_string(), m.score))
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The index is maintained incrementally on every upsert and removal; after any
    /// history it answers exactly like a directory built from the final subjects.
    #[test]
    fn incremental_index_answers_like_a_fresh_one(steps in prop::collection::vec(step(), 1..30)) {
        let config = MatchConfig { default_region: Some("FR".into()) };
        let mut live = Directory::new(config.clone()).unwrap();
        let mut current: std::collections::BTreeMap<u8, Subject> = Default::default();
        for s in &steps {
            match *s {
                Step::Upsert { id, name, email, phone, address } => {
                    let subject = build(id, name, email, phone, address);
                    live.upsert(subject.clone()).unwrap();
                    current.insert(id, subject);
                }
                Step::Remove(id) => {
                    let removed = live.remove(&SubjectId::new(format!("s{id}")).unwrap());
                    prop_assert_eq!(removed.is_some(), current.remove(&id).is_some());
                }
            }
        }
        let mut fresh = Directory::new(config).unwrap();
        for s in current.values() {
            fresh.upsert(s.clone()).unwrap();
        }
        prop_assert_eq!(live.len(), fresh.len());
        prop_assert_eq!(answers(&live), answers(&fresh));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// A directory written to a snapshot after any history, read back and brought up to
    /// date with later changes, answers exactly like one built from the final subjects.
    #[test]
    fn snapshot_plus_replay_answers_like_a_fresh_one(
        before in prop::collection::vec(step(), 0..20),
        after in prop::collection::vec(step(), 0..12),
    ) {
        let config = MatchConfig { default_region: Some("FR".into()) };
        let mut live = Directory::new(config.clone()).unwrap();
        let mut current: std::collections::BTreeMap<u8, Subject> = Default::default();
        let apply = |dir: &mut Directory, current: &mut std::collections::BTreeMap<u8, Subject>, s: &Step| match *s {
            Step::Upsert { id, name, email, phone, address } => {
                let subject = build(id, name, email, phone, address);
                dir.upsert(subject.clone()).unwrap();
                current.insert(id, subject);
            }
            Step::Remove(id) => {
                dir.remove(&SubjectId::new(format!("s{id}")).unwrap());
                current.remove(&id);
            }
        };
        for s in &before {
            apply(&mut live, &mut current, s);
        }
        let bytes = live.write_snapshot(Vec::new(), b"stamp").unwrap();
        let (mut restored, stamp) = Directory::from_snapshot(&bytes).unwrap();
        prop_assert_eq!(stamp.as_slice(), b"stamp");
        prop_assert_eq!(answers(&restored), answers(&live));
        // Written again, the restored directory is the same bytes.
        prop_assert_eq!(restored.write_snapshot(Vec::new(), b"stamp").unwrap(), bytes);
        for s in &after {
            apply(&mut restored, &mut current, s);
        }
        let mut fresh = Directory::new(config).unwrap();
        for s in current.values() {
            fresh.upsert(s.clone()).unwrap();
        }
        prop_assert_eq!(restored.len(), fresh.len());
        prop_assert_eq!(answers(&restored), answers(&fresh));
        let mut got: Vec<_> = restored.subjects().collect();
        got.sort_by(|a, b| a.id.cmp(&b.id));
        let want: Vec<_> = current.values().cloned().collect();
        prop_assert_eq!(got, want);
    }

    /// Damaged snapshot bytes are refused with an error, never a panic or a directory.
    #[test]
    fn a_damaged_snapshot_is_refused(
        steps in prop::collection::vec(step(), 1..10),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
        cut in any::<bool>(),
        resum in any::<bool>(),
    ) {
        let mut dir = Directory::new(MatchConfig::default()).unwrap();
        for s in &steps {
            if let Step::Upsert { id, name, email, phone, address } = *s {
                dir.upsert(build(id, name, email, phone, address)).unwrap();
            }
        }
        let mut bytes = dir.write_snapshot(Vec::new(), b"").unwrap();
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] ^= xor;
        }
        if !resum {
            prop_assert!(Directory::from_snapshot(&bytes).is_err());
        } else if bytes.len() > 8 {
            // Altered and given a matching checksum: read or refused, never a panic.
            let body = bytes.len() - 8;
            let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..body]);
            bytes[body..].copy_from_slice(&sum.to_le_bytes());
            if let Ok((d, _)) = Directory::from_snapshot(&bytes) {
                let _ = answers(&d);
            }
        }
    }
}
