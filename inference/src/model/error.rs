//! The one error type of model loading and running, so callers show a single clear message.

/// Why a model could not be loaded or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// The file is not a usable model (missing tensor, wrong shape, unsupported type…).
    Invalid(String),
    /// The prompt plus generated tokens would exceed the context the model was loaded with.
    ContextFull {
        /// Positions the request needs.
        needed: usize,
        /// Positions available.
        capacity: usize,
    },
    /// A token id outside the vocabulary.
    BadToken(u32),
    /// The caller cancelled the run.
    Cancelled,
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Invalid(why) => write!(f, "model: {why}"),
            ModelError::ContextFull { needed, capacity } => write!(
                f,
                "context length exceeded: {needed} positions needed, the model was loaded with {capacity}"
            ),
            ModelError::BadToken(id) => write!(f, "token id {id} is outside the vocabulary"),
            ModelError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for ModelError {}

/// Shorthand for `ModelError::Invalid`.
pub(crate) fn invalid(why: impl Into<String>) -> ModelError {
    ModelError::Invalid(why.into())
}
