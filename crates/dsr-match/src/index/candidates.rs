//! Candidate selection: which subjects a name or address query scores at all. The
//! postings of the rarest required word (numbers first for addresses), the next one's
//! while the work stays bounded, and — when the rarest word alone gives many — only
//! those candidates that also have the other words.

use super::score::QueryPlan;
use super::tokens::TokenIndex;
use crate::Method;

/// Candidates scored per token lookup beyond the rarest word's postings: scoring costs
/// ~1 µs a candidate, so this bounds a lookup to a few milliseconds.
const CANDIDATE_BUDGET: usize = 4096;
/// From this many candidates of the rarest word alone, filter by the other words first
/// (a posting merge costs far less than scoring).
const FILTER_FROM: usize = 1024;

/// Below this ratio of sizes, two sorted lists are intersected in one pass over both;
/// above it, the shorter one's elements are searched in the longer (log n each).
const GALLOP_RATIO: usize = 16;

/// Lists merged two at a time below this count; more are concatenated and sorted.
const MERGE_LISTS: usize = 8;

/// The union of sorted postings, sorted and distinct. One list is already that; a few
/// are merged (linear, in memory order); many are sorted once.
fn union(mut lists: Vec<&[u32]>) -> Vec<u32> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        n if n <= MERGE_LISTS => {
            lists.sort_by_key(|l| l.len());
            let mut acc = lists[0].to_vec();
            for l in &lists[1..] {
                acc = merge(&acc, l);
            }
            acc
        }
        _ => {
            let mut v: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
    }
}

/// Two sorted lists as one, sorted and distinct.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        let v = x.min(y);
        i += usize::from(x == v);
        j += usize::from(y == v);
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    for &v in a[i..].iter().chain(&b[j..]) {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

/// The postings one query word (or number) contributes: their total size, and the tokens.
struct Source {
    size: usize,
    toks: Vec<u32>,
}

/// The slots to score for a query, sorted and distinct.
pub(super) fn select(ix: &TokenIndex, plan: &QueryPlan) -> Vec<u32> {
    // The postings of the two rarest required positions (one misspelt beyond repair
    // still leaves the other), numbers first for addresses.
    let mut sources: Vec<Source> = Vec::new();
    for (qi, cs) in plan.cands.iter().enumerate() {
        if plan.required[qi] && !cs.is_empty() {
            let size: usize = cs.iter().map(|c| ix.postings[c.tok as usize].len()).sum();
            if size <= CANDIDATE_BUDGET {
                sources.push(Source {
                    size,
                    toks: cs.iter().map(|c| c.tok).collect(),
                });
                continue;
            }
            // A large neighbourhood: generate from the close spellings only (exact,
            // folded, transliterated, one edit). Two-edit and sound-alike matches are
            // weak at best; they are still scored on candidates found this way.
            let tight: Vec<u32> = cs
                .iter()
                .filter(|c| c.method != Method::Phonetic && c.dist <= 1)
                .map(|c| c.tok)
                .collect();
            let size = tight.iter().map(|t| ix.postings[*t as usize].len()).sum();
            if !tight.is_empty() {
                sources.push(Source { size, toks: tight });
            }
        }
    }
    for n in plan.numbers.iter().flatten() {
        sources.push(Source {
            size: ix.postings[*n as usize].len(),
            toks: vec![*n],
        });
    }
    if sources.is_empty() {
        return Vec::new();
    }
    sources.sort_by_key(|s| s.size);
    // The rarest source always; the next one too while the work stays bounded, so a
    // small directory still finds a person whose rarest word is misspelt beyond
    // repair, and a large one does not score every "Maria" for "Maria Nowakowska"
    // (a match on the common word alone would be weak anyway).
    let mut lists: Vec<&[u32]> = Vec::new();
    let mut taken = 0;
    let mut filtered = false;
    for (i, s) in sources.iter().take(2).enumerate() {
        if i > 0 && taken + s.size > CANDIDATE_BUDGET {
            break;
        }
        lists.extend(s.toks.iter().map(|t| &ix.postings[*t as usize][..]));
        taken += s.size;
        filtered = i == 0;
    }
    let mut slots = union(lists);
    if filtered && sources.len() >= 2 && slots.len() > FILTER_FROM {
        // Only the rarest word's postings, and many of them: keep the candidates
        // that also have the other words — all of them for a two-word query (one of
        // two is weak at best), all but one for longer ones (a stored value may lack
        // a postcode or a second surname). Postings are sorted, so each word's
        // presence is a merge or a binary search, far cheaper than scoring.
        let others = &sources[1..];
        let need = if others.len() == 1 {
            1
        } else {
            others.len() - 1
        };
        let mut counts = vec![0u8; slots.len()];
        let mut last = vec![u16::MAX; slots.len()];
        for (si, s) in others.iter().enumerate() {
            for t in &s.toks {
                let posting = &ix.postings[*t as usize];
                let mut mark = |ci: usize| {
                    if last[ci] != si as u16 {
                        last[ci] = si as u16;
                        counts[ci] = counts[ci].saturating_add(1);
                    }
                };
                if posting.len() * GALLOP_RATIO < slots.len() {
                    for p in posting {
                        if let Ok(ci) = slots.binary_search(p) {
                            mark(ci);
                        }
                    }
                } else if slots.len() * GALLOP_RATIO < posting.len() {
                    for (ci, c) in slots.iter().enumerate() {
                        if posting.binary_search(c).is_ok() {
                            mark(ci);
                        }
                    }
                } else {
                    // Of like sizes: one pass over both, in memory order (a binary
                    // search per element would miss the cache at every step).
                    let (mut ci, mut pi) = (0, 0);
                    while ci < slots.len() && pi < posting.len() {
                        match slots[ci].cmp(&posting[pi]) {
                            std::cmp::Ordering::Less => ci += 1,
                            std::cmp::Ordering::Greater => pi += 1,
                            std::cmp::Ordering::Equal => {
                                mark(ci);
                                ci += 1;
                                pi += 1;
                            }
                        }
                    }
                }
            }
        }
        let mut k = 0;
        slots.retain(|_| {
            let keep = counts[k] as usize >= need;
            k += 1;
            keep
        });
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::{merge, union};
    use proptest::prelude::*;

    fn sorted(v: Vec<u32>) -> Vec<u32> {
        let mut v = v;
        v.sort_unstable();
        v.dedup();
        v
    }

    proptest! {
        /// The merges give what concatenating, sorting and deduplicating gives.
        #[test]
        fn union_and_merge_are_the_sorted_distinct_union(
            lists in prop::collection::vec(prop::collection::vec(0u32..200, 0..60), 0..12)
        ) {
            let lists: Vec<Vec<u32>> = lists.into_iter().map(sorted).collect();
            let expected = sorted(lists.iter().flatten().copied().collect());
            let refs: Vec<&[u32]> = lists.iter().map(|l| &l[..]).collect();
            prop_assert_eq!(union(refs), expected);
            if lists.len() >= 2 {
                prop_assert_eq!(merge(&lists[0], &lists[1]), sorted([lists[0].clone(), lists[1].clone()].concat()));
            }
        }
    }
}
