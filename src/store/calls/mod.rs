//! Calls as the marketer sees them: the filter shared by the calls API and `cdr list`
//! ([`filter`]) and its SQL for both backends ([`conditions`]), pages read with keyset
//! pagination ([`page`]; on PostgreSQL `store::pg::calls`), the API's view of a call
//! ([`view`]) and the columns it is read from ([`row`]), changes a CRM posts ([`patch`], applied by the writer) and the writer's
//! callback marking of missed calls ([`callback`]).

mod callback;
pub mod conditions;
pub mod filter;
pub mod page;
pub mod patch;
pub mod row;
pub mod view;

pub(super) use callback::mark_called_back;
pub use filter::{CallFilter, CallQuery, Cursor, Sort};
pub use page::{CallPage, call, cdrs, page};
pub use patch::{CallChange, CallPatch};
pub use view::{AttributionView, CallView, RecordingView};
