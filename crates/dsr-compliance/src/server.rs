//! Dogfooding: the engine's own HTTP server is checked by the same rules.
//!
//! When the server runs in HIPAA mode it describes its settings as a
//! [`ServerSettings`], and refuses to start unless [`ServerSettings::check`] passes.
//! The settings become a partial [`Config`] with only the sections the server
//! controls (`[transport]`, `[sessions]`, `[api]`); it is a partial check, so every
//! other rule is not applicable (for a tenant, an absent every-tenant section fails).

use crate::config::{Api, Config, Regime, Sessions, Tenant, Transport};
use crate::error::Result;
use crate::evaluate::{Report, evaluate_with};
use crate::params::ParameterOverrides;
use crate::params::Parameters;
use crate::rules::CatalogVersion;
use crate::waiver::Waivers;
use chrono::NaiveDate;
use std::time::Duration;

/// The security-relevant settings of the engine's HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Sessions end after this much inactivity.
    pub idle_timeout: Duration,
    /// Issued access tokens expire after this long.
    pub token_lifetime: Duration,
    /// Every request is served over TLS (terminated by the server or by a trusted proxy
    /// in front of it); plain HTTP is refused.
    pub tls: bool,
    /// The idle timeout also applies to API clients holding tokens.
    pub idle_timeout_applies_to_api_clients: bool,
    /// Username/password (basic-auth) access to the API is accepted.
    pub password_auth: bool,
    /// The organisation's tightened limits, if any.
    pub parameters: Option<ParameterOverrides>,
}

impl Default for ServerSettings {
    /// Settings that pass: 15-minute idle timeout and token lifetime, TLS, no passwords.
    fn default() -> Self {
        ServerSettings {
            idle_timeout: Duration::from_secs(15 * 60),
            token_lifetime: Duration::from_secs(15 * 60),
            tls: true,
            idle_timeout_applies_to_api_clients: true,
            password_auth: false,
            parameters: None,
        }
    }
}

/// Whole minutes, rounded up: 15 min 30 s is 16 minutes, which exceeds a 15-minute limit.
fn minutes_ceil(d: Duration) -> u32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    u32::try_from(secs.div_ceil(60)).unwrap_or(u32::MAX)
}

impl ServerSettings {
    /// The settings as a partial configuration.
    pub fn to_config(&self) -> Config {
        Config {
            transport: Some(Transport {
                tls_enforced: Some(self.tls),
                ..Transport::default()
            }),
            sessions: Some(Sessions {
                idle_timeout_minutes: Some(minutes_ceil(self.idle_timeout)),
                idle_timeout_applies_to_api_clients: Some(self.idle_timeout_applies_to_api_clients),
                access_token_lifetime_minutes: Some(minutes_ceil(self.token_lifetime)),
            }),
            api: Some(Api {
                password_access_enabled: Some(self.password_auth),
                ..Api::default()
            }),
            parameters: self.parameters.clone(),
            tenant: Some(Tenant {
                name: Some("dsr HTTP server".into()),
                regime: Some(Regime::Hipaa),
                ..Tenant::default()
            }),
            ..Config::default()
        }
    }

    /// Evaluates the settings. The server must refuse to start in HIPAA mode unless
    /// [`Report::passed`]; [`Report::blocking`] says why. Errors only when the
    /// parameters loosen a source's limit.
    pub fn check(&self, today: NaiveDate) -> Result<Report> {
        let config = self.to_config();
        config.validate()?;
        let params = Parameters::from_overrides(config.parameters.as_ref())?;
        // A partial check: the sections the server does not control are not part of it
        // (not applicable), unlike a tenant configuration where they would be "not stated".
        Ok(evaluate_with(
            &config,
            &params,
            &Waivers::none(),
            today,
            CatalogVersion::current(),
            true,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes_ceil(Duration::from_secs(900)), 15);
        assert_eq!(minutes_ceil(Duration::from_secs(901)), 16);
        assert_eq!(minutes_ceil(Duration::from_millis(900_001)), 16);
        assert_eq!(minutes_ceil(Duration::ZERO), 0);
    }
}
