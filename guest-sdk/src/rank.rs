//! Ranking candidates: score, order, diversify, cut.

use crate::{Candidate, RankedItem};
use std::cmp::Ordering;

/// A candidate with its score.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    pub candidate: &'a Candidate,
    pub score: f64,
}

/// Scores every candidate and orders them best first. Candidates the scorer rejects (`None`) or
/// scores as NaN are dropped; ties keep the candidates' original order.
pub fn rank<'a>(
    candidates: &'a [Candidate],
    mut score: impl FnMut(&Candidate) -> Option<f64>,
) -> Vec<Scored<'a>> {
    let mut scored: Vec<Scored<'a>> = candidates
        .iter()
        .filter_map(|candidate| {
            score(candidate)
                .filter(|s| !s.is_nan())
                .map(|score| Scored { candidate, score })
        })
        .collect();
    scored.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
    scored
}

/// Keeps rank order but admits at most `max_per_tag` items sharing any one tag whose name starts
/// with `tag_prefix` (for example `"category:"`), so one category cannot fill the slot.
pub fn diversify<'a>(
    ranked: Vec<Scored<'a>>,
    tag_prefix: &str,
    max_per_tag: usize,
) -> Vec<Scored<'a>> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    ranked
        .into_iter()
        .filter(|item| {
            let tags = item
                .candidate
                .tags
                .iter()
                .filter(|t| t.starts_with(tag_prefix));
            let over = tags.clone().any(|tag| {
                seen.iter()
                    .any(|(seen_tag, count)| *seen_tag == tag.as_str() && *count >= max_per_tag)
            });
            if over {
                return false;
            }
            for tag in tags {
                match seen
                    .iter_mut()
                    .find(|(seen_tag, _)| *seen_tag == tag.as_str())
                {
                    Some((_, count)) => *count += 1,
                    None => seen.push((tag.as_str(), 1)),
                }
            }
            true
        })
        .collect()
}

/// The best `k` items as the decision's ranked list, scores rounded to 4 decimals so decisions
/// compare exactly across platforms.
pub fn top_k(ranked: &[Scored<'_>], k: usize) -> Vec<RankedItem> {
    ranked
        .iter()
        .take(k)
        .map(|s| RankedItem {
            id: s.candidate.id.clone(),
            score: (s.score * 10_000.0).round() / 10_000.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, tags: &[&str]) -> Candidate {
        Candidate {
            id: id.into(),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            numbers: vec![],
        }
    }

    #[test]
    fn ranks_best_first_and_drops_rejected() {
        let c = [
            candidate("a", &[]),
            candidate("b", &[]),
            candidate("c", &[]),
            candidate("d", &[]),
        ];
        let ranked = rank(&c, |c| match c.id.as_str() {
            "a" => Some(1.0),
            "b" => Some(3.0),
            "c" => None,
            _ => Some(f64::NAN),
        });
        let ids: Vec<&str> = ranked.iter().map(|s| s.candidate.id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
    }

    #[test]
    fn ties_keep_input_order() {
        let c = [
            candidate("x", &[]),
            candidate("y", &[]),
            candidate("z", &[]),
        ];
        let ids: Vec<String> = top_k(&rank(&c, |_| Some(1.0)), 3)
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, ["x", "y", "z"]);
    }

    #[test]
    fn diversify_caps_each_tag() {
        let c = [
            candidate("shoe1", &["category:shoes"]),
            candidate("shoe2", &["category:shoes"]),
            candidate("shoe3", &["category:shoes"]),
            candidate("bag1", &["category:bags", "promo"]),
        ];
        let ranked = rank(&c, |c| {
            Some(10.0 - c.id.len() as f64 - f64::from(c.id.as_bytes()[c.id.len() - 1]))
        });
        let kept = diversify(ranked, "category:", 2);
        let ids: Vec<&str> = kept.iter().map(|s| s.candidate.id.as_str()).collect();
        assert_eq!(ids, ["bag1", "shoe1", "shoe2"]);
    }

    #[test]
    fn top_k_cuts_and_rounds() {
        let c = [candidate("a", &[]), candidate("b", &[])];
        let items = top_k(
            &rank(&c, |c| Some(if c.id == "a" { 0.123456 } else { 0.1 })),
            1,
        );
        assert_eq!(
            items,
            vec![RankedItem {
                id: "a".into(),
                score: 0.1235
            }]
        );
    }
}
