//! The relay's port pool: RTP/RTCP pairs from `[media] rtp_ports`, an even RTP port `p` and
//! its RTCP port `p + 1` (RFC 3550 §11). A pair released goes to the back of the queue, so a
//! port is reused as late as possible (stray packets of an ended call rarely reach a new one);
//! running out is a typed outcome, never a panic.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// Every pair is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no RTP/RTCP port pair is free")]
pub struct PortsExhausted;

/// Free and used RTP/RTCP pairs, named by their even RTP port.
#[derive(Debug)]
pub struct PortPool {
    first: u16,
    free: VecDeque<u16>,
    /// Per pair, by `(port - first) / 2`: taken and not yet put back.
    used: Vec<bool>,
}

impl PortPool {
    /// Every pair `(p, p + 1)` with `p` even and both inside `range`.
    pub fn new(range: RangeInclusive<u16>) -> PortPool {
        let first = range.start().saturating_add(range.start() % 2);
        let last = *range.end();
        let free: VecDeque<u16> = (u32::from(first)..u32::from(last))
            .step_by(2)
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        PortPool {
            first,
            used: vec![false; free.len()],
            free,
        }
    }

    /// A free pair's RTP port.
    pub fn take(&mut self) -> Result<u16, PortsExhausted> {
        let port = self.free.pop_front().ok_or(PortsExhausted)?;
        if let Some(slot) = self.slot(port) {
            self.used[slot] = true;
        }
        Ok(port)
    }

    /// Puts a pair back; a port that is not in use (released twice, never ours) is ignored.
    pub fn put(&mut self, port: u16) {
        let Some(slot) = self.slot(port) else { return };
        if std::mem::take(&mut self.used[slot]) {
            self.free.push_back(port);
        }
    }

    /// Pairs free now.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Every pair of the range.
    pub fn capacity(&self) -> usize {
        self.used.len()
    }

    fn slot(&self, port: u16) -> Option<usize> {
        let offset = port.checked_sub(self.first)?;
        let slot = usize::from(offset / 2);
        (offset % 2 == 0 && slot < self.used.len()).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_inside_the_range() {
        let mut pool = PortPool::new(30000..=30005);
        assert_eq!(pool.capacity(), 3);
        assert_eq!(pool.take(), Ok(30000));
        assert_eq!(pool.take(), Ok(30002));
        assert_eq!(pool.take(), Ok(30004));
        assert_eq!(pool.take(), Err(PortsExhausted));
        // An even last port has no RTCP partner.
        assert_eq!(PortPool::new(30000..=30004).capacity(), 2);
        assert_eq!(PortPool::new(65530..=65535).capacity(), 3);
    }

    #[test]
    fn released_pairs_come_back_last_and_only_once() {
        let mut pool = PortPool::new(30000..=30007);
        let a = pool.take().unwrap();
        pool.put(a);
        pool.put(a);
        pool.put(30001);
        pool.put(29998);
        pool.put(40000);
        assert_eq!(pool.free(), 4);
        assert_eq!(pool.take(), Ok(30002), "the pair freed last waits its turn");
        assert_eq!(pool.take(), Ok(30004));
        assert_eq!(pool.take(), Ok(30006));
        assert_eq!(pool.take(), Ok(a));
    }
}
