//! "Did you mean ...?" hints for misspelt instructions and flags, in the
//! spirit of BuildKit's `util/suggest`.

/// The closest candidate to `word` (compared case-insensitively) when it is
/// close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    // Long garbage is never a typo of a short keyword; skip the work.
    if word.is_empty() || word.chars().count() > 64 {
        return None;
    }
    let (best, distance) = candidates
        .iter()
        .map(|c| (*c, levenshtein(&word, &c.to_lowercase())))
        .min_by_key(|(_, d)| *d)?;
    let threshold = (word.chars().count() / 3).max(1);
    (distance > 0 && distance <= threshold).then_some(best)
}

/// The edit distance between `a` and `b` (insertions, deletions and
/// substitutions of characters).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Formats an optional hint as BuildKit does: ` (did you mean x?)`.
pub(crate) fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let c = ["RUN", "COPY", "ENTRYPOINT"];
        assert_eq!(closest("RUNN", &c), Some("RUN"));
        assert_eq!(closest("cpy", &c), Some("COPY"));
        assert_eq!(closest("ENTRYPIONT", &c), Some("ENTRYPOINT"));
        assert_eq!(closest("XYZ", &c), None);
        assert_eq!(closest("run", &c), None);
        assert_eq!(closest(&"x".repeat(10_000), &c), None);
    }
}
