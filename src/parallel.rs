//! Running independent CPU-bound jobs (one per target platform) on the
//! machine's cores, with results in input order.
//!
//! A multi-platform build compiles and marshals one graph per platform,
//! and after the base image lookups those graphs share nothing: with
//! plain scoped threads they take the time of the slowest core's share
//! instead of the sum. A thread pool crate would buy nothing for a handful
//! of jobs per build.

use std::sync::Mutex;
use std::thread;

/// Applies `job` to every item, on up to as many threads as the machine
/// has cores (the calling thread is one of them), and returns the results
/// in the order of `items`. Each result depends only on its own item, so
/// the output is the same whatever thread ran what.
///
/// A single item runs on the calling thread, as does everything when no
/// thread can be started: threads only ever make it faster.
pub(crate) fn map<T, R, F>(items: Vec<T>, job: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let count = items.len();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let helpers = cores.min(count).saturating_sub(1);
    if helpers == 0 {
        return items.into_iter().map(job).collect();
    }
    // Workers take the next item when they are free, so a slow item does
    // not hold up the others queued behind it on the same thread.
    let queue = Mutex::new(items.into_iter().enumerate());
    let work = || {
        let mut done = Vec::new();
        loop {
            // A poisoned queue means another worker panicked; the scope
            // re-raises that panic once every thread has stopped.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            match next {
                Some((index, item)) => done.push((index, job(item))),
                None => return done,
            }
        }
    };
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers)
            .filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut finished = work();
        for handle in handles {
            match handle.join() {
                Ok(done) => finished.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        for (index, result) in finished {
            results[index] = Some(result);
        }
    });
    // Every index was taken from the queue exactly once and its result
    // kept, or a panic was re-raised above.
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u64> = (0..50).collect();
        let squares = map(items, |n| {
            // Uneven work, so that threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((50 - n) * 20));
            n * n
        });
        assert_eq!(squares, (0..50).map(|n| n * n).collect::<Vec<u64>>());
    }

    #[test]
    fn empty_and_single_inputs() {
        assert!(map(Vec::<u8>::new(), |n| n).is_empty());
        let caller = std::thread::current().id();
        assert_eq!(
            map(vec![7], |n| (n, std::thread::current().id())),
            [(7, caller)]
        );
    }
}
