//! Calls as the marketer sees them: the filter shared by the calls API and `cdr list`
//! ([`filter`]), pages read with keyset pagination ([`page`]), the API's view of a call
//! ([`view`]), changes a CRM posts ([`patch`], applied by the writer) and the writer's
//! callback marking of missed calls ([`callback`]).

mod callback;
pub mod filter;
pub mod page;
pub mod patch;
pub mod view;

pub(super) use callback::mark_called_back;
pub use filter::{CallFilter, CallQuery, Cursor, Sort};
pub use page::{CallPage, call, cdrs, page};
pub use patch::{CallChange, CallPatch};
pub use view::{AttributionView, CallView, RecordingView};
