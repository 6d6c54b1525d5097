//! Which scoring model a node scores with: the newest kept one in the store, read again when
//! its id changes. On PostgreSQL the model table is shared, so a model that any node trained
//! (the nightly training runs on one node) is picked up by every node's next speech pass.

use super::service::CurrentModel;
use crate::store::{BackendReader, StoreError};

/// Reads the current model again when the store's differs from `model`; answers whether a
/// model that applies came (at start-up too, so calls left unscored are scored).
pub async fn refresh(
    reader: &BackendReader,
    model: &mut Option<CurrentModel>,
) -> Result<bool, StoreError> {
    let id = reader.read_speech(|r| r.current_model_id()).await?;
    if id == model.as_ref().map(|m| m.0) {
        return Ok(false);
    }
    let read = reader.read_speech(|r| r.current_model()).await?;
    *model = read.filter(|(_, m)| m.applies());
    Ok(model.is_some())
}
