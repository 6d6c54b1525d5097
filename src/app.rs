//! STUB so the `config` branch compiles: the composition root comes from another branch.

/// Why the running server stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the server is not built in yet")]
    NotBuilt,
}

/// Builds every component from `config` and runs until shutdown.
pub fn serve(config: crate::config::Config) -> Result<(), AppError> {
    tracing::info!(sites = config.sites.len(), "serve stub called");
    Err(AppError::NotBuilt)
}
