//! One small sort for the app's short lists (tenors, strikes, expiries: tens to a few hundred items).
//!
//! An insertion sort instead of `slice::sort_by` for the bundle's size (BENCHMARKS.md, "The diet"): stable, a few
//! dozen bytes, and for lists this short as fast as anything.

/// Sorts `v` stably by `less` (insertion sort: O(n²) comparisons, meant for short lists).
pub fn sort_small_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_keeps_equal_items_in_order() {
        let mut v = vec![(3, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e'), (3, 'f')];
        sort_small_by(&mut v, |a, b| a.0 < b.0);
        assert_eq!(
            v,
            [(0, 'e'), (1, 'b'), (1, 'd'), (2, 'c'), (3, 'a'), (3, 'f')]
        );
        let mut empty: Vec<u8> = vec![];
        sort_small_by(&mut empty, |a, b| a < b);
        let mut xs: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 - 50.5).collect();
        let mut want = xs.clone();
        want.sort_by(f64::total_cmp);
        sort_small_by(&mut xs, |a, b| a < b);
        assert_eq!(xs, want);
    }
}
