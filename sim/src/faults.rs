//! Fault injection: latency, 429 bursts, 5xx, dropped connections. Random choices come from an
//! RNG seeded with the simulator seed, so a fault schedule repeats run to run.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::Faults;

/// What to do to one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Decision {
    /// Delay before answering.
    pub latency_ms: u64,
    /// Close the connection without a response.
    pub drop: bool,
    /// Answer 429.
    pub too_many: bool,
    /// Answer 500.
    pub server_error: bool,
    /// Answer 401 (invalid bearer token).
    pub unauthorized: bool,
}

/// What to do to a write request after carrying it out.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct AfterApply {
    /// Close the connection without a response.
    pub drop: bool,
    /// Delay before answering.
    pub latency_ms: u64,
}

/// Current faults and their RNG.
pub(crate) struct FaultState {
    /// Configured faults (bursts count down).
    pub faults: Faults,
    rng: SmallRng,
}

impl FaultState {
    /// New state seeded from the simulator seed.
    pub fn new(faults: Faults, seed: u64) -> FaultState {
        FaultState {
            faults,
            rng: SmallRng::seed_from_u64(seed ^ 0xFA17),
        }
    }

    /// Decides the faults for one request; `token` is true for `/oauth2/*`.
    pub fn decide(&mut self, token: bool) -> Decision {
        let f = &mut self.faults;
        let mut d = Decision {
            latency_ms: f.latency_ms,
            ..Decision::default()
        };
        if token {
            if f.token_drop_burst > 0 {
                f.token_drop_burst -= 1;
                d.drop = true;
            } else if f.token_429_burst > 0 {
                f.token_429_burst -= 1;
                d.too_many = true;
            } else if f.token_error_burst > 0 {
                f.token_error_burst -= 1;
                d.server_error = true;
            }
            return d;
        }
        if f.status_401_burst > 0 {
            f.status_401_burst -= 1;
            d.unauthorized = true;
        }
        if f.drop_connection_burst > 0 {
            f.drop_connection_burst -= 1;
            d.drop = true;
        } else if f.drop_connection_rate > 0.0
            && self.rng.gen_bool(f.drop_connection_rate.clamp(0.0, 1.0))
        {
            d.drop = true;
        } else if f.status_429_burst > 0 {
            f.status_429_burst -= 1;
            d.too_many = true;
        } else if f.status_5xx_burst > 0 {
            f.status_5xx_burst -= 1;
            d.server_error = true;
        } else if f.error_5xx_rate > 0.0 && self.rng.gen_bool(f.error_5xx_rate.clamp(0.0, 1.0)) {
            d.server_error = true;
        }
        d
    }
}

impl FaultState {
    /// Decides what happens to a write request once it has been carried out.
    pub fn after_apply(&mut self) -> AfterApply {
        let f = &mut self.faults;
        let drop = f.drop_after_apply_burst > 0;
        if drop {
            f.drop_after_apply_burst -= 1;
        }
        AfterApply {
            drop,
            latency_ms: f.latency_after_apply_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_count_down_and_rates_are_seeded() {
        let mut s = FaultState::new(
            Faults {
                status_429_burst: 2,
                ..Faults::default()
            },
            1,
        );
        assert!(s.decide(false).too_many);
        assert!(
            s.decide(true) == Decision::default(),
            "token requests skip API faults"
        );
        assert!(s.decide(false).too_many);
        assert!(!s.decide(false).too_many);
        let mut s = FaultState::new(
            Faults {
                token_429_burst: 1,
                token_drop_burst: 1,
                drop_after_apply_burst: 1,
                ..Faults::default()
            },
            1,
        );
        assert!(s.decide(true).drop, "token drops fire first");
        assert!(s.decide(true).too_many);
        assert_eq!(s.decide(true), Decision::default());
        assert!(s.after_apply().drop);
        assert!(!s.after_apply().drop);
        let run = |seed| {
            let mut s = FaultState::new(
                Faults {
                    error_5xx_rate: 0.5,
                    ..Faults::default()
                },
                seed,
            );
            (0..32)
                .map(|_| s.decide(false).server_error)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert!(run(9).iter().any(|x| *x) && run(9).iter().any(|x| !*x));
    }
}
