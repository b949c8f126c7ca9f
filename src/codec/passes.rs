//! Splitting a batch into world passes of bounded size.

/// Most images per world pass in batch calls.
pub(super) const CHUNK: usize = 32;

/// Arena bytes a world pass aims to stay under (a pass always takes at least one image): a
/// batch of large images, or of small streams that declare large images, is split instead of
/// reserving one huge arena.
pub(super) const PASS_BYTES: usize = 1 << 30;

/// Splits `0..sizes.len()` into consecutive ranges of at most [`CHUNK`] items and, where
/// possible, at most `budget.0` host and `budget.1` GPU bytes (`sizes` gives both per item).
pub(super) fn passes(
    sizes: impl Iterator<Item = (usize, usize)>,
    budget: (usize, usize),
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut host, mut gpu, mut i) = (0, 0usize, 0usize, 0);
    for (h, g) in sizes {
        let over = host.saturating_add(h) > budget.0 || gpu.saturating_add(g) > budget.1;
        if i > start && (i - start == CHUNK || over) {
            out.push(start..i);
            (start, host, gpu) = (i, 0, 0);
        }
        host = host.saturating_add(h);
        gpu = gpu.saturating_add(g);
        i += 1;
    }
    if i > start {
        out.push(start..i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_respect_count_and_bytes() {
        let host = |v: &[usize]| v.iter().map(|&h| (h, 0)).collect::<Vec<_>>().into_iter();
        let budget = (PASS_BYTES, usize::MAX);
        assert_eq!(
            passes(std::iter::empty(), budget),
            Vec::<std::ops::Range<usize>>::new()
        );
        assert_eq!(passes(host(&[10; 70]), budget), vec![0..32, 32..64, 64..70]);
        let big = PASS_BYTES / 2 + 1;
        assert_eq!(
            passes(host(&[big, big, big]), budget),
            vec![0..1, 1..2, 2..3]
        );
        // One image over the budget still gets a pass of its own.
        assert_eq!(
            passes(host(&[5, PASS_BYTES * 3, 5]), budget),
            vec![0..1, 1..2, 2..3]
        );
        assert_eq!(
            passes(host(&[5, 5, PASS_BYTES - 10, 1]), budget),
            vec![0..3, 3..4]
        );
        // The GPU budget splits too (a device that binds 100 bytes).
        let both = [(1, 40), (1, 40), (1, 40), (1, 10)];
        assert_eq!(
            passes(both.into_iter(), (PASS_BYTES, 100)),
            vec![0..2, 2..4]
        );
    }
}
