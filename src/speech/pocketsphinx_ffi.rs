//! The thin FFI layer over CMU PocketSphinx 5prealpha (Debian `libpocketsphinx3`), loaded at
//! run time with `dlopen` (`libloading`), so calltrack builds and runs on machines without it
//! and the engine says so when chosen. The only `unsafe` code of the crate lives here: each
//! call is wrapped in a safe method whose pointers this file owns and frees.
//!
//! One [`Decoder`] is used by one thread at a time (PocketSphinx decoders are not thread-safe);
//! the engine keeps a pool of them.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Arc;

use libloading::{Library, Symbol};

/// What went wrong loading or running the library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SphinxError {
    #[error(
        "cannot load {library}: {reason} (apt-get install libpocketsphinx3 pocketsphinx-en-us)"
    )]
    Load { library: String, reason: String },
    #[error("pocketsphinx rejected the model in {0} (check hmm, lm and dict)")]
    Model(String),
    #[error("pocketsphinx failed: {0}")]
    Decode(&'static str),
}

type Ptr = *mut c_void;

/// The library's functions, resolved once.
struct Fns {
    ps_args: unsafe extern "C" fn() -> *const c_void,
    cmd_ln_parse_r: unsafe extern "C" fn(Ptr, *const c_void, i32, *mut *mut c_char, i32) -> Ptr,
    cmd_ln_free_r: unsafe extern "C" fn(Ptr) -> c_int,
    ps_init: unsafe extern "C" fn(Ptr) -> Ptr,
    ps_free: unsafe extern "C" fn(Ptr) -> c_int,
    ps_start_utt: unsafe extern "C" fn(Ptr) -> c_int,
    ps_process_raw: unsafe extern "C" fn(Ptr, *const i16, usize, c_int, c_int) -> c_int,
    ps_end_utt: unsafe extern "C" fn(Ptr) -> c_int,
    // 5prealpha takes (ps, &score); older releases also wrote an utterance id through a third
    // pointer. Passing a valid third pointer is harmless to the newer one (System V ABI).
    ps_get_hyp: unsafe extern "C" fn(Ptr, *mut i32, *mut *const c_char) -> *const c_char,
    // 5prealpha takes (ps); older ones (ps, &score): the extra pointer is ignored or written.
    ps_seg_iter: unsafe extern "C" fn(Ptr, *mut i32) -> Ptr,
    ps_seg_next: unsafe extern "C" fn(Ptr) -> Ptr,
    ps_seg_word: unsafe extern "C" fn(Ptr) -> *const c_char,
    ps_seg_frames: unsafe extern "C" fn(Ptr, *mut c_int, *mut c_int),
    ps_seg_free: unsafe extern "C" fn(Ptr),
}

/// The loaded library.
pub struct Sphinx {
    fns: Fns,
    /// Kept loaded while any function pointer above may be called.
    _library: Library,
}

impl std::fmt::Debug for Sphinx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sphinx")
    }
}

macro_rules! resolve {
    ($lib:expr, $name:literal, $library:expr) => {{
        // SAFETY: the symbol is looked up by its C name and given the C signature of
        // pocketsphinx.h (5prealpha); the pointer is only used while `_library` is loaded.
        let symbol: Symbol<'_, _> =
            unsafe { $lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| {
                SphinxError::Load {
                    library: $library.to_owned(),
                    reason: e.to_string(),
                }
            })?;
        *symbol
    }};
}

impl Sphinx {
    /// Loads `library` (a file name the dynamic loader finds, or a path).
    pub fn load(library: &str) -> Result<Arc<Sphinx>, SphinxError> {
        // SAFETY: loading runs the library's initialisers; libpocketsphinx has none with
        // preconditions.
        let lib = unsafe { Library::new(library) }.map_err(|e| SphinxError::Load {
            library: library.to_owned(),
            reason: e.to_string(),
        })?;
        let fns = Fns {
            ps_args: resolve!(lib, "ps_args", library),
            cmd_ln_parse_r: resolve!(lib, "cmd_ln_parse_r", library),
            cmd_ln_free_r: resolve!(lib, "cmd_ln_free_r", library),
            ps_init: resolve!(lib, "ps_init", library),
            ps_free: resolve!(lib, "ps_free", library),
            ps_start_utt: resolve!(lib, "ps_start_utt", library),
            ps_process_raw: resolve!(lib, "ps_process_raw", library),
            ps_end_utt: resolve!(lib, "ps_end_utt", library),
            ps_get_hyp: resolve!(lib, "ps_get_hyp", library),
            ps_seg_iter: resolve!(lib, "ps_seg_iter", library),
            ps_seg_next: resolve!(lib, "ps_seg_next", library),
            ps_seg_word: resolve!(lib, "ps_seg_word", library),
            ps_seg_frames: resolve!(lib, "ps_seg_frames", library),
            ps_seg_free: resolve!(lib, "ps_seg_free", library),
        };
        Ok(Arc::new(Sphinx { fns, _library: lib }))
    }
}

/// One decoder with its configuration.
pub struct Decoder {
    sphinx: Arc<Sphinx>,
    config: Ptr,
    ps: Ptr,
}

// SAFETY: a decoder is used by one thread at a time (`&mut self` for every call); moving it
// between threads is allowed by PocketSphinx (no thread-local state).
unsafe impl Send for Decoder {}

/// Most segments read from one utterance (an hour of speech is far fewer).
const MAX_WORDS: usize = 100_000;

/// One recognised word: its text and its first and last frame (10 ms each).
pub type Segment = (String, i32, i32);

impl Decoder {
    /// A decoder from command-line style arguments (`-hmm DIR -lm FILE -dict FILE ...`).
    pub fn new(sphinx: Arc<Sphinx>, args: &[(&str, &str)]) -> Result<Decoder, SphinxError> {
        let texts: Vec<CString> = args
            .iter()
            .flat_map(|(k, v)| [*k, *v])
            .map(|t| CString::new(t).map_err(|_| SphinxError::Model(t.to_owned())))
            .collect::<Result<_, _>>()?;
        let mut argv: Vec<*mut c_char> = texts.iter().map(|t| t.as_ptr().cast_mut()).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| SphinxError::Decode("too many args"))?;
        let f = &sphinx.fns;
        // SAFETY: argv holds argc valid C strings that outlive the call (the library copies
        // them); a null first argument asks for a new configuration.
        let config = unsafe {
            (f.cmd_ln_parse_r)(
                std::ptr::null_mut(),
                (f.ps_args)(),
                argc,
                argv.as_mut_ptr(),
                1,
            )
        };
        if config.is_null() {
            return Err(SphinxError::Model(describe(args)));
        }
        // SAFETY: `config` came from cmd_ln_parse_r; ps_init takes its own reference.
        let ps = unsafe { (f.ps_init)(config) };
        if ps.is_null() {
            // SAFETY: our reference to the configuration, not used again.
            unsafe { (f.cmd_ln_free_r)(config) };
            return Err(SphinxError::Model(describe(args)));
        }
        Ok(Decoder { sphinx, config, ps })
    }

    /// Decodes one utterance of 16-bit samples at the model's rate: the best hypothesis and
    /// its word segments.
    pub fn decode(&mut self, samples: &[i16]) -> Result<(String, Vec<Segment>), SphinxError> {
        let f = &self.sphinx.fns;
        // SAFETY: `self.ps` is a live decoder used by this thread alone; `samples` is valid
        // for its length during the call.
        unsafe {
            if (f.ps_start_utt)(self.ps) < 0 {
                return Err(SphinxError::Decode("start_utt"));
            }
            if (f.ps_process_raw)(self.ps, samples.as_ptr(), samples.len(), 0, 1) < 0 {
                (f.ps_end_utt)(self.ps);
                return Err(SphinxError::Decode("process_raw"));
            }
            if (f.ps_end_utt)(self.ps) < 0 {
                return Err(SphinxError::Decode("end_utt"));
            }
        }
        Ok((self.hypothesis(), self.segments()))
    }

    fn hypothesis(&mut self) -> String {
        let f = &self.sphinx.fns;
        let (mut score, mut uttid) = (0i32, std::ptr::null());
        // SAFETY: after end_utt the decoder owns the returned string until the next utterance;
        // it is copied at once.
        let hyp = unsafe { (f.ps_get_hyp)(self.ps, &mut score, &mut uttid) };
        text(hyp)
    }

    fn segments(&mut self) -> Vec<Segment> {
        let f = &self.sphinx.fns;
        let mut words = Vec::new();
        let mut score = 0i32;
        // SAFETY: the iterator belongs to this decoder's last utterance; each step hands back
        // the next one, or null after freeing itself at the end. A runaway list is cut and
        // its iterator freed.
        unsafe {
            let mut seg = (f.ps_seg_iter)(self.ps, &mut score);
            while !seg.is_null() {
                if words.len() >= MAX_WORDS {
                    (f.ps_seg_free)(seg);
                    break;
                }
                let (mut start, mut end) = (0, 0);
                (f.ps_seg_frames)(seg, &mut start, &mut end);
                words.push((text((f.ps_seg_word)(seg)), start, end));
                seg = (f.ps_seg_next)(seg);
            }
        }
        words
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let f = &self.sphinx.fns;
        // SAFETY: both were made in `new` and are freed once, here.
        unsafe {
            (f.ps_free)(self.ps);
            (f.cmd_ln_free_r)(self.config);
        }
    }
}

/// A C string the library owns, copied (lossily: models are ASCII or UTF-8).
fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated, owned by the decoder for the duration of this copy.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

fn describe(args: &[(&str, &str)]) -> String {
    args.iter()
        .filter(|(k, _)| matches!(*k, "-hmm" | "-lm" | "-dict"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
