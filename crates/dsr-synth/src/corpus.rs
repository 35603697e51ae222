//! The name and address queries of the accuracy corpus, and when a result counts as the
//! person: shared by the accuracy report and the calibration fit, so that the model is
//! fitted on exactly what the report measures (on another seed).

use crate::corrupt::{self, KINDS, Target, same_value_key};
use crate::{Person, Rng, person};
use dsr_model::{Term, TermType};

/// Corruptions that leave a part out (deterministic in the person: no draw).
pub const OMISSIONS: &[&str] = &["initial", "no house number", "no postcode", "no city"];

/// One name or address query of the corpus.
pub struct Query {
    /// "name" or "address".
    pub field: &'static str,
    /// The corruption kind's name.
    pub corruption: &'static str,
    /// The corrupted term.
    pub term: Term,
    /// The person asked for: an index into the people when present.
    pub target: Option<usize>,
    /// The asked-for person's stored value key (also for absent persons).
    pub truth_key: String,
    /// Locale index of the person.
    pub locale: usize,
}

/// The stored value of `field` ("name", "address") of a person.
pub fn stored_value(p: &Person, field: &str) -> String {
    match field {
        "name" => p.subject.names[0].clone(),
        "address" => p.subject.addresses[0].clone(),
        _ => String::new(),
    }
}

/// Per corruption kind, `qn` queries for people among `people` and one in four more for
/// people who are not (drawn with `seed` beyond the first `people.len()`).
pub fn queries(rng: &mut Rng, seed: u64, people: &[Person], qn: usize) -> Vec<Query> {
    let n = people.len();
    let mut out = Vec::new();
    let absent_person = |rng: &mut Rng| person(seed, (n + rng.below(qn.max(1) * 1000)) as u64);
    for k in KINDS {
        let field = match k.target {
            Target::Name => "name",
            Target::Address => "address",
        };
        let total = qn + qn / 4;
        let (mut done, mut tries) = (0, 0);
        while done < total && tries < total * 50 {
            tries += 1;
            let present = done < qn;
            let (p, target) = if present {
                let i = rng.below(n);
                (people[i].clone(), Some(i))
            } else {
                (absent_person(rng), None)
            };
            let v = match k.target {
                Target::Name => corrupt::corrupt_name(rng, &p, k.name),
                Target::Address => corrupt::corrupt_address(rng, &p, k.name),
            };
            let Some(v) = v else { continue };
            let ty = match k.target {
                Target::Name => TermType::Name,
                Target::Address => TermType::Address,
            };
            done += 1;
            out.push(Query {
                field,
                corruption: k.name,
                term: Term::typed(ty, v).expect("non-empty"),
                target,
                truth_key: same_value_key(&stored_value(&p, field)),
                locale: p.locale,
            });
        }
    }
    out
}

/// Decides whether a result is equivalent to the person a query asks for: the person,
/// or the same stored value (a namesake, a housemate), or a stored value exactly what
/// was typed; for a query that leaves a part out, anyone who differs only in that part.
pub struct Judge<'a> {
    people: &'a [Person],
    name_keys: Vec<String>,
    addr_keys: Vec<String>,
}

impl<'a> Judge<'a> {
    /// A judge over `people`.
    pub fn new(people: &'a [Person]) -> Self {
        Judge {
            people,
            name_keys: people
                .iter()
                .map(|p| same_value_key(&p.subject.names[0]))
                .collect(),
            addr_keys: people
                .iter()
                .map(|p| same_value_key(&p.subject.addresses[0]))
                .collect(),
        }
    }

    /// The key a result `i` is compared by for query `q`.
    pub fn key(&self, q: &Query, i: usize) -> String {
        if OMISSIONS.contains(&q.corruption) {
            let Some(p) = self.people.get(i) else {
                return String::new();
            };
            let v = match q.field {
                "name" => corrupt::corrupt_name(&mut Rng::new(0), p, q.corruption),
                _ => corrupt::corrupt_address(&mut Rng::new(0), p, q.corruption),
            };
            return v.map(|v| same_value_key(&v)).unwrap_or_default();
        }
        let keys = match q.field {
            "name" => &self.name_keys,
            _ => &self.addr_keys,
        };
        keys.get(i).cloned().unwrap_or_default()
    }

    /// Whether result `i` is equivalent to the person `q` asks for.
    pub fn equivalent(&self, q: &Query, i: usize) -> bool {
        if Some(i) == q.target {
            return true;
        }
        let k = self.key(q, i);
        !k.is_empty() && (k == q.truth_key || k == same_value_key(&q.term.value))
    }
}
