//! placeholder (store branch stub): the call pipeline; replaced at merge.

pub mod record;
