//! Matching answers to requests over a channel: the requester registers a
//! request and gets its id (to put in the message) and a handle to wait on;
//! whoever reads the answers hands each one in by id. Answers nobody waits
//! for any more (late, unknown, duplicated) are discarded.
//!
//! Two forms:
//! - [`Correlator`]: one request, one answer (a bind-any socket, a
//!   signature from the ca).
//! - [`FanOut`]: one request to several responders, each sending any
//!   number of parts and then saying it is done (`show sessions` asks every
//!   relay process).
//!
//! Both are cheap to clone and can be shared between tasks and threads. The
//! waiting side can `.await` (inside a tokio runtime) or block with a
//! timeout (a plain thread, e.g. a TLS signer that must answer
//! synchronously); the answering side is a plain method call, usable from
//! either. A blocking wait must not run on the thread whose runtime reads
//! the answers: it would wait for itself.
//!
//! A waiter that gives up (deadline passed, handle dropped) removes its
//! request, so nothing accumulates when a peer never answers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The id a request carries on the wire and its answer echoes. Ids start at
/// 1 and are unique for the life of their correlator.
pub type RequestId = u64;

/// Why a wait ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The deadline or timeout passed first.
    #[error("no answer in time")]
    Expired,
    /// The requests were dropped on purpose ([`Correlator::cancel_all`]) or
    /// every handle of the correlator is gone.
    #[error("the request was cancelled")]
    Cancelled,
}

/// What became of an answer handed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an undelivered answer usually deserves a log line"]
pub enum Delivery {
    /// A waiter gets it.
    Delivered,
    /// Nobody waits for this id (late, unknown or already answered): the
    /// answer was dropped.
    Discarded,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent at every unlock, so a
    // panic elsewhere does not make it unusable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where one answer lands; shared by the table and the waiter.
struct Slot<A> {
    state: Mutex<SlotState<A>>,
    filled: Condvar,
}

enum SlotState<A> {
    Waiting(Option<Waker>),
    Answered(A),
    Cancelled,
    /// The waiter took the answer.
    Taken,
}

impl<A> Slot<A> {
    fn new() -> Arc<Slot<A>> {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting(None)),
            filled: Condvar::new(),
        })
    }

    fn settle(&self, outcome: SlotState<A>) {
        let mut state = lock(&self.state);
        if let SlotState::Waiting(waker) = &mut *state {
            let waker = waker.take();
            *state = outcome;
            drop(state);
            self.filled.notify_all();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    fn fill(&self, answer: A) {
        self.settle(SlotState::Answered(answer));
    }

    fn cancel(&self) {
        self.settle(SlotState::Cancelled);
    }

    /// The outcome if there is one; takes it.
    fn take(state: &mut SlotState<A>) -> Option<Result<A, WaitError>> {
        match std::mem::replace(state, SlotState::Taken) {
            SlotState::Answered(answer) => Some(Ok(answer)),
            SlotState::Cancelled | SlotState::Taken => Some(Err(WaitError::Cancelled)),
            waiting @ SlotState::Waiting(_) => {
                *state = waiting;
                None
            }
        }
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<A, WaitError>> {
        let mut state = lock(&self.state);
        if let Some(outcome) = Self::take(&mut state) {
            return Poll::Ready(outcome);
        }
        if let SlotState::Waiting(waker) = &mut *state {
            match waker {
                Some(known) if known.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }

    fn take_blocking(&self, until: Instant) -> Result<A, WaitError> {
        let mut state = lock(&self.state);
        loop {
            if let Some(outcome) = Self::take(&mut state) {
                return outcome;
            }
            let now = Instant::now();
            if now >= until {
                return Err(WaitError::Expired);
            }
            state = self
                .filled
                .wait_timeout(state, until - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }
}

/// Polls a slot: the future behind the `wait` methods.
struct Answer<'a, A> {
    slot: &'a Slot<A>,
}

impl<A> Future for Answer<'_, A> {
    type Output = Result<A, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_take(cx)
    }
}

/// Awaits `answer`, giving up at `deadline` if there is one.
async fn wait_until<T>(
    answer: impl Future<Output = T>,
    deadline: Option<Instant>,
    expired: impl FnOnce() -> T,
) -> T {
    match deadline {
        None => answer.await,
        Some(deadline) => tokio::time::timeout_at(deadline.into(), answer)
            .await
            .unwrap_or_else(|_| expired()),
    }
}

/// The earlier of a handle's deadline and `timeout` from now.
fn blocking_limit(deadline: Option<Instant>, timeout: Duration) -> Instant {
    let limit = Instant::now() + timeout;
    deadline.map_or(limit, |deadline| deadline.min(limit))
}

struct Table<A> {
    next_id: RequestId,
    open: HashMap<RequestId, Arc<Slot<A>>>,
}

impl<A> Drop for Table<A> {
    fn drop(&mut self) {
        for slot in self.open.values() {
            slot.cancel();
        }
    }
}

/// Requests that wait for one answer each. See the module documentation.
pub struct Correlator<A> {
    table: Arc<Mutex<Table<A>>>,
}

impl<A> Clone for Correlator<A> {
    fn clone(&self) -> Self {
        Correlator {
            table: self.table.clone(),
        }
    }
}

impl<A> Default for Correlator<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A> Correlator<A> {
    pub fn new() -> Self {
        Correlator {
            table: Arc::new(Mutex::new(Table {
                next_id: 1,
                open: HashMap::new(),
            })),
        }
    }

    /// Opens a request: its id for the message, and the handle its answer
    /// arrives at.
    pub fn register(&self) -> (RequestId, Pending<A>) {
        let slot = Slot::new();
        let mut table = lock(&self.table);
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(id, slot.clone());
        let pending = Pending {
            id,
            slot,
            table: Arc::downgrade(&self.table),
            deadline: None,
        };
        (id, pending)
    }

    /// Hands in the answer to request `id`.
    pub fn answer(&self, id: RequestId, answer: A) -> Delivery {
        let slot = lock(&self.table).open.remove(&id);
        match slot {
            Some(slot) => {
                slot.fill(answer);
                Delivery::Delivered
            }
            None => Delivery::Discarded,
        }
    }

    /// Ends every open request with [`WaitError::Cancelled`] (the peer is
    /// gone, or a new configuration makes the questions moot).
    pub fn cancel_all(&self) {
        let open: Vec<Arc<Slot<A>>> = lock(&self.table).open.drain().map(|(_, s)| s).collect();
        for slot in open {
            slot.cancel();
        }
    }

    /// Requests still waiting for their answer.
    pub fn open(&self) -> usize {
        lock(&self.table).open.len()
    }
}

/// The waiting side of one request. Dropping it withdraws the request.
pub struct Pending<A> {
    id: RequestId,
    slot: Arc<Slot<A>>,
    table: Weak<Mutex<Table<A>>>,
    deadline: Option<Instant>,
}

impl<A> Pending<A> {
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Gives up waiting at `deadline` ([`WaitError::Expired`]).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Waits for the answer inside a tokio runtime.
    pub async fn wait(self) -> Result<A, WaitError> {
        let answer = Answer { slot: &self.slot };
        wait_until(answer, self.deadline, || Err(WaitError::Expired)).await
    }

    /// Blocks this thread for the answer, at most `timeout` (and not past
    /// the deadline). Not on the runtime thread that delivers the answer.
    pub fn wait_blocking(self, timeout: Duration) -> Result<A, WaitError> {
        self.slot
            .take_blocking(blocking_limit(self.deadline, timeout))
    }
}

impl<A> Drop for Pending<A> {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            lock(&table).open.remove(&self.id);
        }
    }
}

/// What a fan-out request collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered<K, R> {
    /// Every part, with its responder, in arrival order.
    pub parts: Vec<(K, R)>,
    /// Responders that did not say they were done: gone, or too late.
    pub missing: Vec<K>,
}

/// Where a fan-out request's complete answer lands.
type GatherSlot<K, R> = Arc<Slot<Gathered<K, R>>>;

struct Gather<K, R> {
    waiting: Vec<K>,
    parts: Vec<(K, R)>,
    gone: Vec<K>,
    slot: GatherSlot<K, R>,
}

impl<K, R> Gather<K, R> {
    fn into_gathered(self) -> (GatherSlot<K, R>, Gathered<K, R>) {
        let mut missing = self.gone;
        missing.extend(self.waiting);
        let gathered = Gathered {
            parts: self.parts,
            missing,
        };
        (self.slot, gathered)
    }
}

struct FanTable<K, R> {
    next_id: RequestId,
    open: HashMap<RequestId, Gather<K, R>>,
}

impl<K, R> Drop for FanTable<K, R> {
    fn drop(&mut self) {
        for (_, gather) in self.open.drain() {
            let (slot, gathered) = gather.into_gathered();
            slot.fill(gathered);
        }
    }
}

/// Requests answered by several responders, each with parts and then
/// `done`. See the module documentation.
pub struct FanOut<K, R> {
    table: Arc<Mutex<FanTable<K, R>>>,
}

impl<K, R> Clone for FanOut<K, R> {
    fn clone(&self) -> Self {
        FanOut {
            table: self.table.clone(),
        }
    }
}

impl<K: PartialEq, R> Default for FanOut<K, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PartialEq, R> FanOut<K, R> {
    pub fn new() -> Self {
        FanOut {
            table: Arc::new(Mutex::new(FanTable {
                next_id: 1,
                open: HashMap::new(),
            })),
        }
    }

    /// Opens a request to `responders`; with none, it is complete at once.
    pub fn register(
        &self,
        responders: impl IntoIterator<Item = K>,
    ) -> (RequestId, Gathering<K, R>) {
        let slot = Slot::new();
        let gather = Gather {
            waiting: responders.into_iter().collect(),
            parts: Vec::new(),
            gone: Vec::new(),
            slot: slot.clone(),
        };
        let mut table = lock(&self.table);
        let id = table.next_id;
        table.next_id += 1;
        if gather.waiting.is_empty() {
            let (slot, gathered) = gather.into_gathered();
            slot.fill(gathered);
        } else {
            table.open.insert(id, gather);
        }
        let gathering = Gathering {
            id,
            slot,
            table: Arc::downgrade(&self.table),
            deadline: None,
        };
        (id, gathering)
    }

    /// One part of `from`'s answer to request `id`.
    pub fn part(&self, id: RequestId, from: K, part: R) -> Delivery {
        let mut table = lock(&self.table);
        match table.open.get_mut(&id) {
            Some(gather) if gather.waiting.contains(&from) => {
                gather.parts.push((from, part));
                Delivery::Delivered
            }
            _ => Delivery::Discarded,
        }
    }

    /// `from` has sent every part of its answer to request `id`.
    pub fn done(&self, id: RequestId, from: &K) -> Delivery {
        let mut table = lock(&self.table);
        let Some(gather) = table.open.get_mut(&id) else {
            return Delivery::Discarded;
        };
        let Some(position) = gather.waiting.iter().position(|k| k == from) else {
            return Delivery::Discarded;
        };
        gather.waiting.swap_remove(position);
        if gather.waiting.is_empty() {
            if let Some(gather) = table.open.remove(&id) {
                drop(table);
                let (slot, gathered) = gather.into_gathered();
                slot.fill(gathered);
            }
        }
        Delivery::Delivered
    }

    /// `from` will not answer anything any more: every open request stops
    /// waiting for it and lists it as missing.
    pub fn gone(&self, from: &K)
    where
        K: Clone,
    {
        let ids: Vec<RequestId> = {
            let mut table = lock(&self.table);
            table
                .open
                .iter_mut()
                .filter_map(|(id, gather)| {
                    let position = gather.waiting.iter().position(|k| k == from)?;
                    let responder = gather.waiting.swap_remove(position);
                    gather.gone.push(responder);
                    Some(*id)
                })
                .collect()
        };
        for id in ids {
            let finished = {
                let mut table = lock(&self.table);
                match table.open.get(&id) {
                    Some(gather) if gather.waiting.is_empty() => table.open.remove(&id),
                    _ => None,
                }
            };
            if let Some(gather) = finished {
                let (slot, gathered) = gather.into_gathered();
                slot.fill(gathered);
            }
        }
    }

    /// Requests still collecting.
    pub fn open(&self) -> usize {
        lock(&self.table).open.len()
    }
}

/// The waiting side of a fan-out request. Dropping it withdraws the request.
pub struct Gathering<K, R> {
    id: RequestId,
    slot: GatherSlot<K, R>,
    table: Weak<Mutex<FanTable<K, R>>>,
    deadline: Option<Instant>,
}

impl<K, R> Gathering<K, R> {
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Stops collecting at `deadline`: the answer then holds the parts so
    /// far, and the responders not done are missing.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Waits for every responder (or the deadline) inside a tokio runtime.
    pub async fn wait(self) -> Gathered<K, R> {
        let answer = Answer { slot: &self.slot };
        let outcome = wait_until(answer, self.deadline, || Err(WaitError::Expired)).await;
        self.settle(outcome)
    }

    /// Blocks this thread for every responder, at most `timeout` (and not
    /// past the deadline).
    pub fn wait_blocking(self, timeout: Duration) -> Gathered<K, R> {
        let outcome = self
            .slot
            .take_blocking(blocking_limit(self.deadline, timeout));
        self.settle(outcome)
    }

    /// The complete answer, or what was collected when waiting stopped.
    fn settle(self, outcome: Result<Gathered<K, R>, WaitError>) -> Gathered<K, R> {
        if let Ok(gathered) = outcome {
            return gathered;
        }
        let unfinished = self
            .table
            .upgrade()
            .and_then(|table| lock(&table).open.remove(&self.id));
        match unfinished {
            Some(gather) => gather.into_gathered().1,
            // Completed between the timeout and now.
            None => match Slot::take(&mut lock(&self.slot.state)) {
                Some(Ok(gathered)) => gathered,
                _ => Gathered {
                    parts: Vec::new(),
                    missing: Vec::new(),
                },
            },
        }
    }
}

impl<K, R> Drop for Gathering<K, R> {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            let withdrawn = lock(&table).open.remove(&self.id);
            drop(withdrawn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_reaches_the_task_waiting_for_it() {
        let correlator = Correlator::<String>::new();
        let (first, first_answer) = correlator.register();
        let (second, second_answer) = correlator.register();
        assert_ne!(first, second);
        let waiter = tokio::spawn(second_answer.wait());
        tokio::task::yield_now().await;
        assert_eq!(correlator.answer(second, "two".into()), Delivery::Delivered);
        assert_eq!(waiter.await.unwrap(), Ok("two".to_string()));
        assert_eq!(correlator.answer(first, "one".into()), Delivery::Delivered);
        assert_eq!(first_answer.wait().await, Ok("one".to_string()));
        assert_eq!(correlator.open(), 0);
    }

    #[tokio::test]
    async fn late_unknown_and_repeated_answers_are_discarded() {
        let correlator = Correlator::<u32>::new();
        assert_eq!(correlator.answer(99, 1), Delivery::Discarded);
        let (id, pending) = correlator.register();
        assert_eq!(correlator.answer(id, 1), Delivery::Delivered);
        assert_eq!(correlator.answer(id, 2), Delivery::Discarded);
        assert_eq!(pending.wait().await, Ok(1));

        let (id, pending) = correlator.register();
        drop(pending);
        assert_eq!(correlator.open(), 0, "a dropped waiter withdraws");
        assert_eq!(correlator.answer(id, 3), Delivery::Discarded);
    }

    #[tokio::test]
    async fn a_deadline_ends_the_wait_and_withdraws_the_request() {
        let correlator = Correlator::<u32>::new();
        let (id, pending) = correlator.register();
        let deadline = Instant::now() + Duration::from_millis(30);
        assert_eq!(
            pending.with_deadline(deadline).wait().await,
            Err(WaitError::Expired)
        );
        assert_eq!(correlator.answer(id, 1), Delivery::Discarded);
        assert_eq!(correlator.open(), 0);
    }

    #[tokio::test]
    async fn cancel_all_and_a_dropped_correlator_end_every_wait() {
        let correlator = Correlator::<u32>::new();
        let (_, first) = correlator.register();
        let (_, second) = correlator.register();
        let waiter = tokio::spawn(first.wait());
        tokio::task::yield_now().await;
        correlator.cancel_all();
        assert_eq!(waiter.await.unwrap(), Err(WaitError::Cancelled));
        assert_eq!(second.wait().await, Err(WaitError::Cancelled));

        let (_, orphan) = correlator.register();
        drop(correlator);
        assert_eq!(orphan.wait().await, Err(WaitError::Cancelled));
    }

    #[test]
    fn a_blocking_thread_gets_an_answer_from_a_runtime_task() {
        let correlator = Correlator::<Vec<u8>>::new();
        let (id, pending) = correlator.register();
        let signer = std::thread::spawn(move || pending.wait_blocking(Duration::from_secs(10)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answering = correlator.clone();
        runtime.block_on(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(answering.answer(id, vec![1, 2, 3]), Delivery::Delivered);
        });
        assert_eq!(signer.join().unwrap(), Ok(vec![1, 2, 3]));
    }

    #[test]
    fn a_blocking_wait_times_out() {
        let correlator = Correlator::<u32>::new();
        let (id, pending) = correlator.register();
        let started = Instant::now();
        assert_eq!(
            pending.wait_blocking(Duration::from_millis(30)),
            Err(WaitError::Expired)
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(correlator.answer(id, 1), Delivery::Discarded);
    }

    #[tokio::test]
    async fn a_fan_out_collects_every_responder_then_completes() {
        let fan = FanOut::<u32, &str>::new();
        let (id, gathering) = fan.register([0, 1, 2]);
        let waiter = tokio::spawn(gathering.wait());
        assert_eq!(fan.part(id, 1, "b1"), Delivery::Delivered);
        assert_eq!(fan.done(id, &0), Delivery::Delivered);
        assert_eq!(fan.part(id, 0, "late"), Delivery::Discarded);
        assert_eq!(fan.part(id, 7, "stranger"), Delivery::Discarded);
        assert_eq!(fan.part(id, 2, "c1"), Delivery::Delivered);
        assert_eq!(fan.done(id, &1), Delivery::Delivered);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "responder 2 is not done yet");
        assert_eq!(fan.done(id, &2), Delivery::Delivered);
        let gathered = waiter.await.unwrap();
        assert_eq!(gathered.parts, vec![(1, "b1"), (2, "c1")]);
        assert!(gathered.missing.is_empty());
        assert_eq!(fan.done(id, &2), Delivery::Discarded);
        assert_eq!(fan.open(), 0);
    }

    #[tokio::test]
    async fn a_fan_out_without_responders_is_complete_at_once() {
        let fan = FanOut::<u32, u32>::new();
        let (_, gathering) = fan.register([]);
        let gathered = gathering.wait().await;
        assert!(gathered.parts.is_empty() && gathered.missing.is_empty());
        assert_eq!(fan.open(), 0);
    }

    #[tokio::test]
    async fn a_fan_out_deadline_gives_the_parts_so_far_and_names_the_missing() {
        let fan = FanOut::<u32, u32>::new();
        let (id, gathering) = fan.register([0, 1]);
        assert_eq!(fan.part(id, 0, 10), Delivery::Delivered);
        assert_eq!(fan.done(id, &0), Delivery::Delivered);
        assert_eq!(fan.part(id, 1, 11), Delivery::Delivered);
        let gathered = gathering
            .with_deadline(Instant::now() + Duration::from_millis(30))
            .wait()
            .await;
        assert_eq!(gathered.parts, vec![(0, 10), (1, 11)]);
        assert_eq!(gathered.missing, vec![1]);
        assert_eq!(fan.open(), 0);
        assert_eq!(fan.done(id, &1), Delivery::Discarded);
    }

    #[tokio::test]
    async fn a_responder_gone_counts_as_missing_everywhere() {
        let fan = FanOut::<u32, u32>::new();
        let (first, first_gathering) = fan.register([0, 1]);
        let (_, second_gathering) = fan.register([1]);
        assert_eq!(fan.done(first, &0), Delivery::Delivered);
        fan.gone(&1);
        let first_gathered = first_gathering.wait().await;
        assert_eq!(first_gathered.missing, vec![1]);
        let second_gathered = second_gathering.wait_blocking(Duration::from_secs(1));
        assert_eq!(second_gathered.missing, vec![1]);
        assert_eq!(fan.open(), 0);
    }
}
