//! The mark on several threads: rounds, the threads' work, their errors.

use super::*;

/// The most threads one mark may use: [`Options::mark_threads`].
pub(super) const MAX_MARK_THREADS: usize = 256;

impl<T, N, K, S> Collector<T, N, K, S>
where
    T: Eq + Hash + Clone + Debug,
    N: Eq + Hash + Clone + Debug,
    K: Eq + Hash + Clone + Debug,
    S: BuildHasher,
{
    /// As [`collect_with`](Self::collect_with), with the mark spread over
    /// [`Options::mark_threads`] threads, which call
    /// [`SharedContext::references_shared`] at once. The listing, the roots
    /// and the sweep run on the calling thread, as do the callbacks that
    /// take `&mut self`.
    ///
    /// The outcome is the one [`collect_with`](Self::collect_with) gives:
    /// the same garbage in the same order, the same counts. Only the order
    /// in which nodes are expanded differs.
    ///
    /// Threads start once there are enough grey nodes to share (a few
    /// dozen); until then, and between rounds, the calling thread marks
    /// alone, through `references_shared` too. A round ends when no grey
    /// node is left; targets the listing did not name are interned then,
    /// and may start another.
    ///
    /// While threads mark, [`CollectionContext::checkpoint`] is not called
    /// (it needs `&mut self`); it is between rounds and every few thousand
    /// nodes the calling thread marks alone. [`Options::time_limit`] holds
    /// throughout: every thread checks it every few thousand nodes. To
    /// cancel mid-round, fail `references_shared`. When several callbacks
    /// fail, the error returned is the first to stop the threads, which
    /// need not be the one the sequential mark would meet first.
    ///
    /// The threads do strong work only. The structure of nodes reached
    /// only flat (a long snapshot chain under a flat lease, say) is
    /// followed on the calling thread, once no strong work is left.
    ///
    /// With one thread, or with [`Options::explain`] (so that the path
    /// [`Collection::why_live`] reports is the one a single thread finds
    /// first), it marks as `collect_with` does, through
    /// [`CollectionContext::references`]. A thread the system refuses to
    /// start means one thread fewer, not an error. A panic in any thread
    /// unwinds out of this call once every thread has stopped.
    ///
    /// More than 256 threads is [`Error::InvalidOptions`].
    pub fn collect_parallel<C>(
        &mut self,
        ctx: &mut C,
        options: &Options,
    ) -> Result<Collection<'_, T, N, K, S>, CollectError<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
        C::Error: Send,
        Node<T, N, K>: Send + Sync,
        S: Sync,
    {
        let threads = mark_threads(options)?;
        if threads < 2 {
            return self.run(ctx, options, Self::mark_here);
        }
        self.run(ctx, options, |collector, ctx, run| {
            collector.mark_shared(ctx, run, threads)
        })
    }

    /// Marks on up to `threads` threads, the calling one among them; on
    /// the calling thread alone if `threads` is 1.
    ///
    /// While there are few grey nodes the calling thread expands them
    /// alone (starting threads for a handful costs more than it saves:
    /// think of a chain of nodes the listing did not name). Once there are
    /// enough, a round starts: the threads share the grey nodes until none
    /// is left; then the calling thread interns the targets they found
    /// outside the table, which may make more grey nodes.
    pub(super) fn mark_shared<C>(
        &mut self,
        ctx: &mut C,
        run: &mut Run,
        threads: usize,
    ) -> Result<(), CollectError<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
        C::Error: Send,
        Node<T, N, K>: Send + Sync,
        S: Sync,
    {
        let shared = |ctx: &mut C, node: &Node<T, N, K>, refs: &mut ReferenceSink<'_, T, N, K>| {
            ctx.references_shared(node, refs)
        };
        loop {
            let grey = self.marker.grey_len();
            if grey == 0 && !self.marker.has_flat() {
                return Ok(());
            }
            // Few strong nodes, or only flat ones (which the calling thread
            // follows alone, once no strong work is left).
            if grey < threads * EXPAND_BATCH {
                self.expand_here(ctx, run, shared)?;
                continue;
            }
            let pool = Pool::new(self.marker.take_grey(), threads);
            let outcomes = {
                let marking = MarkView::new(&self.nodes, &self.listed, &self.bindings, run.now);
                let marker = &self.marker;
                let (ctx, checkpoint) = (&*ctx, &run.checkpoint);
                let work = || {
                    let _stop = pool.stop_on_unwind();
                    marking.work(marker, &pool, checkpoint, ctx)
                };
                std::thread::scope(|scope| {
                    // Stops the pool if the calling thread unwinds before it
                    // works, so that no helper waits for it forever.
                    let _stop = pool.stop_on_unwind();
                    // A thread the system refuses only means fewer threads.
                    let helpers: Vec<_> = (1..threads)
                        .map_while(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
                        .collect();
                    pool.started(helpers.len() + 1);
                    let mine = work();
                    let theirs = helpers.into_iter().map(|helper| {
                        helper
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    });
                    std::iter::once(mine).chain(theirs).collect::<Vec<_>>()
                })
            };
            self.marker.give_grey_back(pool.into_grey());
            let mut failure = None;
            for outcome in outcomes {
                match outcome {
                    Ok(mut state) => {
                        self.marker.add_flat(&mut state.flat);
                        self.main.absorb(state);
                    }
                    // The error that stopped the others, not one that
                    // raced it.
                    Err(Failed { first, error }) => {
                        if first || failure.is_none() {
                            failure = Some(error);
                        }
                    }
                }
            }
            if let Some(error) = failure {
                return Err(error);
            }
            self.intern_unseen()?;
            if self.marker.grey_len() > 0 {
                run.stats.nodes_expanded = self.main.expanded;
                run.stats.nodes_expanded_flat = self.main.expanded_flat;
                run.check(ctx, Phase::Marking)?;
            }
        }
    }
}

impl<'a, T, N, K, S> MarkView<'a, Node<T, N, K>, S>
where
    T: Eq + Hash + Clone,
    N: Eq + Hash + Clone,
    K: Eq + Hash + Clone,
    S: BuildHasher,
{
    /// One thread of a shared mark: takes grey nodes from `pool`, expands
    /// them with [`SharedContext::references_shared`], and gives half of
    /// its own back whenever another thread has run out. Ends when every
    /// thread has run out, or one has failed. Returns its counts, and the
    /// nodes it reached flat, whose structure the calling thread follows.
    pub(super) fn work<C>(
        &self,
        marker: &Marker,
        pool: &Pool,
        checkpoint: &Checkpoint,
        ctx: &C,
    ) -> Result<ThreadState<Node<T, N, K>>, Failure<C>>
    where
        C: SharedContext<Kind = T, Namespace = N, Key = K>,
    {
        let mut marks = marker.shared();
        let mut state = ThreadState::default();
        let mut next_check = CHECKPOINT_EVERY;
        let mut expand = |node: &Node<T, N, K>, refs: &mut ReferenceSink<'_, T, N, K>| {
            ctx.references_shared(node, refs)
        };
        while pool.refill(&mut marks.grey) {
            while !pool.stopped() {
                let outcome = self
                    .expand_batch(&mut marks, &mut state, None, &mut expand)
                    .and_then(|expanded| {
                        if state.expansions() >= next_check {
                            next_check = state.expansions() + CHECKPOINT_EVERY;
                            checkpoint.overdue(Phase::Marking)?;
                        }
                        Ok(expanded)
                    });
                match outcome {
                    Ok(0) => break,
                    Ok(_) => pool.share(&mut marks.grey),
                    Err(error) => {
                        let first = pool.stop();
                        return Err(Failed { first, error });
                    }
                }
            }
        }
        state.flat = std::mem::take(&mut marks.flat);
        Ok(state)
    }
}

/// A marking thread's error, and whether it was the first: the one that
/// stopped the others.
pub(super) struct Failed<E> {
    pub(super) first: bool,
    pub(super) error: E,
}

pub(super) type Failure<C> = Failed<CollectError<C>>;

/// The threads [`Options::mark_threads`] asks for: zero asks the system.
/// Explaining marks on one thread, so that the path `why_live` reports is
/// the one a single thread finds first.
pub(super) fn mark_threads<E, R>(options: &Options) -> Result<usize, Error<E, R>> {
    match options.mark_threads {
        _ if options.explain => Ok(1),
        0 => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        n if n > MAX_MARK_THREADS => Err(Error::InvalidOptions {
            reason: format!("mark_threads is {n}, more than {MAX_MARK_THREADS}"),
        }),
        n => Ok(n),
    }
}
