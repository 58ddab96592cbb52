//! The market's random draws. Per-contract values (open interest, sizes, the day's gap) come from a seeded hash
//! of the contract's name, so they do not depend on listing order; everything that moves draws from the
//! caller's RNG, so a seed repeats the path.

use rand::Rng;
use rand_distr::StandardNormal;

/// A 64-bit mix of the seed, a name and a salt, for per-contract values that must not depend on listing order.
pub(super) fn hash_mix(seed: u64, name: &str, salt: u64) -> u64 {
    let mut h: u64 =
        0xcbf2_9ce4_8422_2325 ^ seed.rotate_left(17) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A uniform number in [0, 1) from [`hash_mix`].
pub(super) fn unit(seed: u64, name: &str, salt: u64) -> f64 {
    (hash_mix(seed, name, salt) >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal draw ([`StandardNormal`], ziggurat): drawn from the caller's RNG, so a seed repeats the path.
pub fn normal(rng: &mut impl Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// A Poisson draw: Knuth's product method for small means, a rounded normal for large ones.
pub(super) fn poisson(rng: &mut impl Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u64;
    }
    let limit = (-lambda).exp();
    let mut p = 1.0;
    let mut k = 0;
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// A trade size in contracts: mostly small, sometimes a block.
pub(super) fn trade_size(rng: &mut impl Rng) -> i64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    (1.0 + (-u.ln()) * 4.0).min(250.0) as i64
}
