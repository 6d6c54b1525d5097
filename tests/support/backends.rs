//! The store backends a suite runs on, and `on_both_backends!`, which runs each named test
//! function once per backend (`sqlite::name`, `postgres::name`) with the same assertions, and
//! [`median_ms`] to set their answer times side by side.

/// A store backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `on_both_backends!(a, b)`: tests `sqlite::a`, `postgres::a`, ... each calling the test
/// crate's `fn a(backend: Backend)` (which imports [`Backend`] at its root).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Sqlite);
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Postgres);
            })*
        }
    };
}

#[allow(unused_imports)]
pub(crate) use on_both_backends;

/// The median time of 15 runs of `request`, in milliseconds (printed with `--nocapture`).
pub fn median_ms(mut request: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let start = std::time::Instant::now();
            request();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
