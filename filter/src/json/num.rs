//! JSON numbers as every reader of them sees them.
//!
//! Owns: the value of a number literal, and comparing two numbers so that
//! the answer holds for every reader a server may use. A JavaScript server
//! (`JSON.parse`) keeps the nearest double; Python keeps integers exact and
//! floats as the nearest double; Go's `json.Number`, Java's `BigDecimal` and
//! `BigInteger` keep the literal exactly. So a number has two readings, the
//! nearest double and the exact value, and a comparison is answered only
//! when both readings give the same answer (`Num::cmp_value`); otherwise it
//! is unknown, and unknown never lets a call through.
//!
//! Does not own: reading the literal's characters (`read`).

use std::cmp::Ordering;
use std::fmt;

/// A JSON number.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    /// A non-negative integer literal that fits 64 bits: exact.
    U(u64),
    /// A negative integer literal that fits 64 bits: exact.
    I(i64),
    /// A number whose value is exactly this double.
    F(f64),
    /// A literal that no double holds exactly (`0.1`, `1e400`'s neighbours,
    /// an integer beyond 64 bits): its nearest double, and its exact value
    /// when that fits a [`Dec`].
    D(f64, Option<Dec>),
}

/// An exact decimal: `(-1)^negative × digits × 10^exp`. Normalised: `digits`
/// has no trailing zero, and zero is `digits: 0, exp: 0`, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub negative: bool,
    pub digits: u64,
    pub exp: i32,
}

impl Dec {
    /// A normalised decimal.
    pub fn new(negative: bool, mut digits: u64, mut exp: i32) -> Dec {
        if digits == 0 {
            return Dec {
                negative: false,
                digits: 0,
                exp: 0,
            };
        }
        while digits.is_multiple_of(10) {
            digits /= 10;
            exp = exp.saturating_add(1);
        }
        Dec {
            negative,
            digits,
            exp,
        }
    }

    fn from_i128(v: i128) -> Option<Dec> {
        let digits = u64::try_from(v.unsigned_abs()).ok()?;
        Some(Dec::new(v < 0, digits, 0))
    }

    /// Whether a double holds this value exactly.
    pub fn is_double(self) -> bool {
        if self.digits == 0 {
            return true;
        }
        // The value is odd × 2^k; a double holds it when odd < 2^53 (the
        // exponent range is never reached by a 64-bit `digits`).
        const LIMIT: u128 = 1 << 53;
        let digits = u128::from(self.digits);
        if self.exp >= 0 {
            // digits × 5^exp × 2^exp.
            let Some(five) = pow5(self.exp.unsigned_abs()) else {
                return false;
            };
            let odd = digits >> digits.trailing_zeros();
            odd.checked_mul(five).is_some_and(|v| v < LIMIT)
        } else {
            // digits / (5^k × 2^k): 5^k must divide digits.
            let Some(five) = pow5(self.exp.unsigned_abs()) else {
                return false;
            };
            if !digits.is_multiple_of(five) {
                return false;
            }
            let rest = digits.checked_div(five).unwrap_or(0);
            (rest >> rest.trailing_zeros()) < LIMIT
        }
    }

    /// Order by exact value.
    fn cmp(self, other: Dec) -> Ordering {
        match (self.sign(), other.sign()) {
            (a, b) if a != b => a.cmp(&b),
            (0, _) => Ordering::Equal,
            (sign, _) => {
                let magnitude = self.cmp_magnitude(other);
                if sign < 0 {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
        }
    }

    fn sign(self) -> i8 {
        match (self.digits, self.negative) {
            (0, _) => 0,
            (_, true) => -1,
            (_, false) => 1,
        }
    }

    /// Order of `|self|` and `|other|`, both non-zero.
    fn cmp_magnitude(self, other: Dec) -> Ordering {
        // The position of the leading digit decides first.
        let lead = |d: Dec| i64::from(d.exp).saturating_add(i64::from(count_digits(d.digits)));
        match lead(self).cmp(&lead(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        // Same leading position: compare the digits left-aligned to 20.
        let widen = |d: Dec| {
            let pad = 20u32.saturating_sub(count_digits(d.digits));
            u128::from(d.digits).saturating_mul(10u128.pow(pad))
        };
        widen(self).cmp(&widen(other))
    }
}

fn count_digits(v: u64) -> u32 {
    v.checked_ilog10().map_or(1, |l| l.saturating_add(1))
}

fn pow5(k: u32) -> Option<u128> {
    5u128.checked_pow(k)
}

impl Num {
    /// The nearest double: the value a JavaScript server works with.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) | Num::D(f, _) => f,
        }
    }

    /// The smallest double at least as large as every reading of the
    /// number: what a counter adds, so that a limit holds whichever reading
    /// the server used.
    pub fn upper_f64(self) -> f64 {
        let d = self.as_f64();
        match self.exact() {
            Exact::Double(_) => d,
            Exact::Int(i) if (d as i128) >= i => d,
            _ => next_up(d),
        }
    }

    /// Whether every reader reads this number as the same value.
    pub fn is_exact(self) -> bool {
        match self.exact() {
            Exact::Double(_) => true,
            Exact::Int(i) => (self.as_f64() as i128) == i && self.as_f64().abs() < 1.7e38,
            _ => false,
        }
    }

    fn exact(self) -> Exact {
        match self {
            Num::U(u) => Exact::Int(i128::from(u)),
            Num::I(i) => Exact::Int(i128::from(i)),
            Num::F(f) => Exact::Double(f),
            Num::D(_, Some(dec)) => Exact::Dec(dec),
            Num::D(_, None) => Exact::Unknown,
        }
    }

    /// Order by value, as every reader sees it: `Some` when the nearest
    /// doubles and the exact values order the two numbers the same way,
    /// `None` when they do not (2^53 + 1 and 2^53 are one double but two
    /// integers) or the exact order cannot be known. `5 == 5.0`.
    pub fn cmp_value(self, other: Num) -> Option<Ordering> {
        let (double, exact) = self.cmp_readings(other)?;
        (exact == Some(double)).then_some(double)
    }

    /// The order of two numbers in each reading: as nearest doubles, and
    /// exactly (`None` when the exact order cannot be known). `None` only
    /// for NaN, which strict JSON cannot carry.
    pub fn cmp_readings(self, other: Num) -> Option<(Ordering, Option<Ordering>)> {
        let double = self.as_f64().partial_cmp(&other.as_f64())?;
        let exact = match exact_cmp(self.exact(), other.exact()) {
            Some(exact) => Some(exact),
            // Different doubles: each is the nearest to its exact value, so
            // the exact values are in the same order.
            None if double != Ordering::Equal => Some(double),
            None => None,
        };
        Some((double, exact))
    }
}

/// The exact value of a number, as far as it is known.
#[derive(Debug, Clone, Copy)]
enum Exact {
    Int(i128),
    /// Exactly this double.
    Double(f64),
    Dec(Dec),
    Unknown,
}

fn exact_cmp(a: Exact, b: Exact) -> Option<Ordering> {
    match (a, b) {
        (Exact::Unknown, _) | (_, Exact::Unknown) => None,
        (Exact::Int(x), Exact::Int(y)) => Some(x.cmp(&y)),
        (Exact::Double(x), Exact::Double(y)) => x.partial_cmp(&y),
        (Exact::Int(i), Exact::Double(d)) => int_double_cmp(i, d),
        (Exact::Double(d), Exact::Int(i)) => int_double_cmp(i, d).map(Ordering::reverse),
        (a, b) => Some(as_dec(a)?.cmp(as_dec(b)?)),
    }
}

/// An integer and a double, exactly.
fn int_double_cmp(i: i128, d: f64) -> Option<Ordering> {
    if d.fract() == 0.0 && d.abs() < 1.0e38 {
        return Some(i.cmp(&(d as i128)));
    }
    // A double with a fraction is below 2^52 in magnitude, where every
    // integer is a double; a huge one is beyond every 64-bit integer.
    (i as f64).partial_cmp(&d)
}

fn as_dec(e: Exact) -> Option<Dec> {
    match e {
        Exact::Int(i) => Dec::from_i128(i),
        Exact::Dec(d) => Some(d),
        Exact::Double(d) => double_dec(d),
        Exact::Unknown => None,
    }
}

/// The exact decimal of a double, when it fits a `Dec` (0.5, 1e10, not 0.1's
/// double, which has 55 digits).
fn double_dec(d: f64) -> Option<Dec> {
    if !d.is_finite() {
        return None;
    }
    if d.fract() == 0.0 && d.abs() < 1.8e19 {
        return Some(Dec::new(d < 0.0, d.abs() as u64, 0));
    }
    // d = m / 2^e for the smallest e, and then exactly m × 5^e / 10^e.
    let bits = d.abs().to_bits();
    let exponent = i32::try_from((bits >> 52) & 0x7ff).ok()?;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if exponent == 0 {
        (fraction, 1074i32)
    } else {
        (fraction | (1u64 << 52), 1075i32.checked_sub(exponent)?)
    };
    if e <= 0 {
        return None;
    }
    let shift = m.trailing_zeros().min(e.unsigned_abs());
    m >>= shift;
    e = e.checked_sub(i32::try_from(shift).ok()?)?;
    let digits = u128::from(m).checked_mul(pow5(e.unsigned_abs())?)?;
    Some(Dec::new(
        d < 0.0,
        u64::try_from(digits).ok()?,
        e.checked_neg()?,
    ))
}

fn next_up(d: f64) -> f64 {
    if d.is_nan() || d == f64::INFINITY {
        return d;
    }
    if d == 0.0 {
        return f64::from_bits(1);
    }
    let bits = d.to_bits();
    let next = if d > 0.0 {
        bits.saturating_add(1)
    } else {
        bits.saturating_sub(1)
    };
    f64::from_bits(next)
}

impl Num {
    /// Whether two numbers are one value to every reader; two literals too
    /// long for an exact decimal here count as one when their doubles are
    /// (for ids and round trips, never for conditions: see `cmp_value`).
    pub fn same(self, other: Num) -> bool {
        match self.cmp_value(other) {
            Some(order) => order == Ordering::Equal,
            None => {
                matches!((self, other), (Num::D(_, None), Num::D(_, None)))
                    && self.as_f64() == other.as_f64()
            }
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.same(*other)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::U(u) => write!(f, "{u}"),
            Num::I(i) => write!(f, "{i}"),
            Num::F(_) | Num::D(..) => {
                let mut out = String::new();
                super::write::push_num(&mut out, *self);
                f.write_str(&out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn num(text: &str) -> Num {
        match parse(text.as_bytes()).unwrap() {
            crate::json::Json::Num(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literals_know_whether_a_double_holds_them() {
        for exact in [
            "0",
            "5",
            "-5",
            "0.5",
            "1.25e2",
            "1e22",
            "-0.0",
            "9007199254740992",
        ] {
            let n = num(exact);
            assert!(
                matches!(n, Num::U(_) | Num::I(_) | Num::F(_)),
                "{exact}: {n:?}"
            );
        }
        for inexact in [
            "0.1",
            "19.99",
            "1e23",
            "18446744073709551617",
            "-9223372036854775809",
        ] {
            assert!(matches!(num(inexact), Num::D(..)), "{inexact}");
        }
        assert!(matches!(
            num("0.1"),
            Num::D(
                _,
                Some(Dec {
                    digits: 1,
                    exp: -1,
                    ..
                })
            )
        ));
        assert!(matches!(
            num("0.1000000000000000055511151231257827021181583404541015625"),
            Num::D(_, None)
        ));
    }

    #[test]
    fn readings_that_disagree_compare_as_unknown() {
        let cmp = |a: &str, b: &str| num(a).cmp_value(num(b));
        use Ordering::*;
        assert_eq!(cmp("5", "5.0"), Some(Equal));
        assert_eq!(cmp("0.1", "0.10"), Some(Equal));
        assert_eq!(cmp("19.99", "20"), Some(Less));
        assert_eq!(cmp("0.5", "0.1"), Some(Greater));
        // One double, two integers: a JavaScript server and a Python one
        // disagree, so nobody can say.
        assert_eq!(cmp("9007199254740993", "9007199254740992"), None);
        assert_eq!(cmp("9007199254740993", "9007199254740993"), Some(Equal));
        assert_eq!(cmp("9007199254740994", "9007199254740992"), Some(Greater));
        // The double of 0.1 against the literal 0.1, and a literal that
        // rounds to 0.1's double.
        assert_eq!(cmp("0.10000000000000001", "0.1"), None);
        assert_eq!(cmp("0.5", "0.50000000000000000001"), None);
        assert_eq!(cmp("1e300", "1"), Some(Greater));
        assert_eq!(cmp("-1", "1"), Some(Less));
        assert_eq!(cmp("-0", "0"), Some(Equal));
        assert_eq!(cmp("123456789012345678901234567890", "1"), Some(Greater));
    }

    #[test]
    fn exact_decimals_of_doubles() {
        assert_eq!(double_dec(0.5), Some(Dec::new(false, 5, -1)));
        assert_eq!(double_dec(-0.375), Some(Dec::new(true, 375, -3)));
        assert_eq!(double_dec(0.1), None);
        assert!(Dec::new(false, 5, -1).is_double());
        assert!(!Dec::new(false, 1, -1).is_double());
        assert!(Dec::new(false, 1, 22).is_double());
        assert!(!Dec::new(false, 1, 23).is_double());
    }

    #[test]
    fn counters_add_the_largest_reading() {
        assert_eq!(num("5").upper_f64(), 5.0);
        assert!(num("0.1").upper_f64() > 0.1);
        assert!(num("9007199254740993").upper_f64() > 9007199254740992.0);
    }
}
