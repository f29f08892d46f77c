//! Cross-cutting request handling, as tower layers that wrap every route:
//! security headers (outermost) → access log → origin guard → authentication → audit → handler.

pub mod access_log;
pub mod auth;
pub mod guard;
pub mod rate_limit;
pub mod security_headers;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;

use crate::audit::layer::AuditContext;
use crate::origins::LocalOrigins;
use crate::secret::SessionSecret;

/// What the layers need to know about this launch.
#[derive(Clone)]
pub struct LayerContext {
    /// Hosts and origins allowed to talk to this appliance.
    pub origins: Arc<LocalOrigins>,
    /// Secret presented by the browser's cookie or a script's bearer token.
    pub secret: SessionSecret,
    /// Throttle for failed authentication attempts.
    pub failures: Arc<rate_limit::FailureLimiter>,
    /// The one-time launch link's nonce.
    pub launch: Arc<crate::secret::LaunchNonce>,
    /// This launch's session cookie name.
    pub cookie: String,
    /// Cap on audit records of refused requests and failed logins.
    pub noise: Arc<rate_limit::AuditBudget>,
    /// Where authenticated actions (and logins) are recorded.
    pub audit: AuditContext,
}

/// Wraps `router` in every layer, in the order documented above.
pub fn wrap(router: Router, ctx: LayerContext) -> Router {
    router
        .layer(from_fn_with_state(
            ctx.audit.clone(),
            crate::audit::layer::record,
        ))
        .layer(from_fn_with_state(ctx.clone(), auth::require_session))
        .layer(from_fn_with_state(ctx.clone(), guard::enforce))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .layer(from_fn_with_state(ctx.origins, security_headers::apply))
}
