//! Per-client rate limits (G-8, OWASP API4), keyed on the authenticated client id —
//! never on an address or a header a caller can forge (`X-Forwarded-For`).
//!
//! A generic cell rate algorithm (GCRA) per client and class: a steady rate with a
//! burst. `governor` was not used: its keyed limiter is the same algorithm behind
//! `dashmap` and `quanta`; this is forty lines over a mutex and our own monotonic time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a request costs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Lookups and reads.
    Read,
    /// Subject writes, decisions, cancellations, compliance checks.
    Write,
    /// Request creation (much stricter: one subject at a time, never bulk).
    Create,
    /// Token requests (per client id, also before the secret is checked).
    Token,
}

/// A rate: `per_second` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
}

/// The rates of every class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Reads.
    pub read: Rate,
    /// Writes.
    pub write: Rate,
    /// Request creation.
    pub create: Rate,
    /// Token requests.
    pub token: Rate,
}

impl Default for Rates {
    /// On by default: reads 50/s (burst 100), writes 10/s (burst 20), request
    /// creation 1/s (burst 5), tokens 1/s (burst 10).
    fn default() -> Self {
        Rates {
            read: Rate {
                per_second: 50.0,
                burst: 100,
            },
            write: Rate {
                per_second: 10.0,
                burst: 20,
            },
            create: Rate {
                per_second: 1.0,
                burst: 5,
            },
            token: Rate {
                per_second: 1.0,
                burst: 10,
            },
        }
    }
}

impl Rates {
    fn of(&self, c: Class) -> Rate {
        match c {
            Class::Read => self.read,
            Class::Write => self.write,
            Class::Create => self.create,
            Class::Token => self.token,
        }
    }
}

/// The limiter.
#[derive(Debug)]
pub struct Limiter {
    rates: Rates,
    /// Theoretical arrival time per (client, class).
    tat: Mutex<HashMap<(String, Class), Instant>>,
}

impl Limiter {
    /// A limiter with these rates.
    pub fn new(rates: Rates) -> Self {
        Limiter {
            rates,
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` in `class`; `Err(wait)` when over the limit.
    pub fn check(&self, client: &str, class: Class) -> Result<(), Duration> {
        self.check_at(client, class, Instant::now())
    }

    /// [`Limiter::check`] at a given instant.
    pub fn check_at(&self, client: &str, class: Class, now: Instant) -> Result<(), Duration> {
        let rate = self.rates.of(class);
        if rate.per_second <= 0.0 {
            return Ok(());
        }
        let interval = Duration::from_secs_f64(1.0 / rate.per_second);
        let tolerance = interval * rate.burst.saturating_sub(1);
        let mut map = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, t| *t > now);
        }
        let key = (client.to_owned(), class);
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let allow_at = tat.checked_sub(tolerance).unwrap_or(now);
        if allow_at > now {
            return Err(allow_at - now);
        }
        map.insert(key, tat + interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_per_client() {
        let l = Limiter::new(Rates {
            create: Rate {
                per_second: 2.0,
                burst: 3,
            },
            ..Rates::default()
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("a", Class::Create, t0).is_ok());
        }
        let wait = l.check_at("a", Class::Create, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another client, another class: their own budgets.
        assert!(l.check_at("b", Class::Create, t0).is_ok());
        assert!(l.check_at("a", Class::Read, t0).is_ok());
        // Half a second later one more is allowed, not two.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.check_at("a", Class::Create, t1).is_ok());
        assert!(l.check_at("a", Class::Create, t1).is_err());
    }
}
