//! Normalizers never panic, are idempotent, and names are order-independent.

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
