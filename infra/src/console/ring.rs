//! A bounded ring buffer: the console keeps the last N requests, deliveries and metric values
//! and forgets the oldest, so its memory stays flat however long devstack runs.

use std::collections::VecDeque;

/// The last `capacity` items pushed, oldest first.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    pushed: u64,
}

impl<T> Ring<T> {
    /// An empty ring keeping at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            items: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            pushed: 0,
        }
    }

    /// Appends `item`, dropping the oldest one when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.pushed += 1;
    }

    /// The items kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// How many items are kept (at most the capacity).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many items were ever pushed (kept or dropped).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The most recently pushed item.
    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_drops_its_oldest_item_and_keeps_the_order() {
        let mut ring = Ring::new(3);
        for i in 1..=5 {
            ring.push(i);
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.pushed(), 5);
        assert_eq!(ring.last(), Some(&5));
    }

    #[test]
    fn a_ring_below_its_capacity_keeps_everything() {
        let mut ring = Ring::new(10);
        assert!(ring.is_empty());
        ring.push("a");
        ring.push("b");
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn a_zero_capacity_is_read_as_one() {
        let mut ring = Ring::new(0);
        ring.push(1);
        ring.push(2);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![2]);
    }
}
