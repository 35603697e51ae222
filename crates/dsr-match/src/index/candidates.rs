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
    let mut slots: Vec<u32> = Vec::new();
    let mut filtered = false;
    for (i, s) in sources.iter().take(2).enumerate() {
        if i > 0 && slots.len() + s.size > CANDIDATE_BUDGET {
            break;
        }
        for t in &s.toks {
            slots.extend_from_slice(&ix.postings[*t as usize]);
        }
        filtered = i == 0;
    }
    slots.sort_unstable();
    slots.dedup();
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
                if posting.len() < slots.len() {
                    for p in posting {
                        if let Ok(ci) = slots.binary_search(p) {
                            mark(ci);
                        }
                    }
                } else {
                    for (ci, c) in slots.iter().enumerate() {
                        if posting.binary_search(c).is_ok() {
                            mark(ci);
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
