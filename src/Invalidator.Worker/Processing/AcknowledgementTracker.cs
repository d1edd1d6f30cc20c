using Invalidator.Worker.Events;

namespace Invalidator.Worker.Processing;

/// <summary>A position a source may now acknowledge: the next Kafka offset to read, or the LSN to confirm to the slot.</summary>
internal readonly record struct AcknowledgedPosition(SourcePartition Partition, long Position);

/// <summary>
/// The one place that decides what a source may acknowledge, for every source. Batches are registered in the
/// order the source read them; each is done once every part of its work completed (applied in every region or
/// durably dead-lettered, its poison records written, and whatever later work is attached to it). Batches may
/// finish in any order; per partition, a position is handed to the acknowledge callback only when every batch
/// covering it or anything earlier on that partition is done, so acknowledgement never jumps unfinished work.
/// </summary>
/// <remarks>
/// At most <c>maxInFlight</c> batches hold a slot at a time (<see cref="WaitForRoomAsync"/>): that is the
/// source's backpressure. A part can be registered as not holding a slot (work that finishes later, such as a
/// delayed second delete): it still holds back the batch's acknowledgement but lets later batches be applied.
/// The callback runs under the tracker's lock, in acknowledgement order, on whichever thread finished the work:
/// it must be quick and must not call back into the tracker.
/// </remarks>
internal sealed class AcknowledgementTracker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<SourcePartition, Lane> _lanes = [];
    private readonly Action<AcknowledgedPosition> _acknowledge;
    private int _holdingSlots;
    private int _unfinished;
    private Exception? _fault;
    private bool _closed;
    private TaskCompletionSource _changed = NewSignal();

    public AcknowledgementTracker(int maxInFlight, Action<AcknowledgedPosition> acknowledge)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        MaxInFlight = maxInFlight;
        _acknowledge = acknowledge;
    }

    public int MaxInFlight { get; }

    /// <summary>Batches holding a slot: registered, and some slot-holding part of them still running.</summary>
    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _holdingSlots;
            }
        }
    }

    /// <summary>Batches registered and not done (including ones whose remaining parts hold no slot).</summary>
    public int Unfinished
    {
        get
        {
            lock (_lock)
            {
                return _unfinished;
            }
        }
    }

    public bool HasRoom => InFlight < MaxInFlight;

    /// <summary>The failure of a part: the source must stop, nothing more is acknowledged.</summary>
    public Exception? Fault
    {
        get
        {
            lock (_lock)
            {
                return _fault;
            }
        }
    }

    /// <summary>Completes at the next change: a slot freed, a position acknowledged, a fault.</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>Throws <see cref="BatchFailedException"/> once a part has failed: the source must stop.</summary>
    public void ThrowIfFaulted()
    {
        if (Fault is { } fault)
        {
            throw new BatchFailedException(fault);
        }
    }

    /// <summary>Waits until a slot is free. Throws <see cref="BatchFailedException"/> when a part failed instead of waiting for ever.</summary>
    public async Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_fault is not null)
                {
                    throw new BatchFailedException(_fault);
                }

                if (_holdingSlots < MaxInFlight)
                {
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Registers a batch in read order; it holds a slot until its slot-holding parts are finished. Add its parts,
    /// then <see cref="TrackedBatch.Seal"/> it: a sealed batch without parts is done at once (a position-only batch).
    /// </summary>
    public TrackedBatch Register(SourceBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_lock)
        {
            var tracked = new TrackedBatch(this, batch);
            foreach (var progress in batch.Progress)
            {
                if (!_lanes.TryGetValue(progress.Key, out var lane))
                {
                    _lanes[progress.Key] = lane = new Lane(progress.Key);
                }

                var entry = new Entry(tracked, progress.NextPosition);
                lane.Entries.Enqueue(entry);
                tracked.Lanes.Add(lane);
            }

            _holdingSlots++;
            _unfinished++;
            return tracked;
        }
    }

    /// <summary>
    /// Forgets partitions the source no longer owns (revoked, lost, or a replication session that ended): their
    /// unfinished positions are never acknowledged; the next owner (or session) reads them again. Returns how many
    /// of them had positions waiting for unfinished work.
    /// </summary>
    public int Drop(IEnumerable<SourcePartition> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (_lock)
        {
            var dropped = 0;
            foreach (var partition in partitions)
            {
                if (_lanes.Remove(partition, out var lane))
                {
                    lane.Dropped = true;
                    if (lane.Entries.Count > 0)
                    {
                        dropped++;
                    }
                }
            }

            return dropped;
        }
    }

    /// <summary>Whether nothing unfinished covers <paramref name="partition"/>: everything read on it is acknowledged.</summary>
    public bool IsSettled(SourcePartition partition)
    {
        lock (_lock)
        {
            return !_lanes.TryGetValue(partition, out var lane) || lane.Entries.Count == 0;
        }
    }

    /// <summary>The last position handed to the callback for <paramref name="partition"/> (since it was last dropped).</summary>
    public long? Acknowledged(SourcePartition partition)
    {
        lock (_lock)
        {
            return _lanes.TryGetValue(partition, out var lane) ? lane.Acknowledged : null;
        }
    }

    /// <summary>Stops acknowledging: the source is shutting down and its client may be closed.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            Signal();
        }
    }

    internal void OnSlotReleased()
    {
        lock (_lock)
        {
            _holdingSlots--;
            Signal();
        }
    }

    internal void OnDone(TrackedBatch batch)
    {
        lock (_lock)
        {
            _unfinished--;
            foreach (var lane in batch.Lanes)
            {
                if (!lane.Dropped)
                {
                    Advance(lane);
                }
            }

            Signal();
        }
    }

    internal void OnFailed(Exception exception)
    {
        lock (_lock)
        {
            _fault ??= exception;
            Signal();
        }
    }

    /// <summary>Pops every done batch at the front of the lane and acknowledges the furthest position they reach.</summary>
    private void Advance(Lane lane)
    {
        long? position = null;
        while (lane.Entries.TryPeek(out var entry) && entry.Batch.IsDone)
        {
            lane.Entries.Dequeue();
            position = Math.Max(position ?? long.MinValue, entry.Position);
        }

        if (position is not { } reached || reached <= (lane.Acknowledged ?? long.MinValue))
        {
            return;
        }

        lane.Acknowledged = reached;
        if (!_closed && _fault is null)
        {
            _acknowledge(new AcknowledgedPosition(lane.Partition, reached));
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal sealed class Lane(SourcePartition partition)
    {
        public SourcePartition Partition { get; } = partition;

        public Queue<Entry> Entries { get; } = new();

        public long? Acknowledged { get; set; }

        public bool Dropped { get; set; }
    }

    internal readonly record struct Entry(TrackedBatch Batch, long Position);
}

/// <summary>A part of a batch failed in a way the worker cannot handle: the source stops, nothing it covers is acknowledged.</summary>
internal sealed class BatchFailedException(Exception inner)
    : Exception($"A batch failed and is not acknowledged: {inner.Message}", inner);

/// <summary>
/// A batch registered with the <see cref="AcknowledgementTracker"/>: done once it is sealed and every part of it
/// completed. Parts complete independently, in any order and on any thread.
/// </summary>
internal sealed class TrackedBatch
{
    private readonly AcknowledgementTracker _tracker;
    private readonly Lock _lock = new();
    private int _openParts;
    private int _openSlotParts;
    private bool _sealed;
    private bool _slotReleased;
    private volatile bool _done;
    private int _takenForReuse;

    internal TrackedBatch(AcknowledgementTracker tracker, SourceBatch batch)
    {
        _tracker = tracker;
        Batch = batch;
    }

    public SourceBatch Batch { get; }

    public bool IsDone => _done;

    internal List<AcknowledgementTracker.Lane> Lanes { get; } = [];

    /// <summary>True once, for the one caller that may reuse the done batch's <see cref="Batch"/>.</summary>
    internal bool TakeForReuse() => _done && Interlocked.Exchange(ref _takenForReuse, 1) == 0;

    /// <summary>
    /// Adds work the batch must finish before its positions count as done. A part that <paramref name="holdsSlot"/>
    /// keeps the batch in flight (backpressure); one that does not (work that finishes later, a delayed second
    /// delete) holds back only this batch's acknowledgement. Parts may be added until the batch is done, also by a
    /// running part before it completes. A part may read <see cref="Batch"/> until it finishes (a done batch is reused).
    /// </summary>
    public BatchPart AddPart(string name, bool holdsSlot = true)
    {
        lock (_lock)
        {
            if (_done)
            {
                throw new InvalidOperationException($"The batch is done already; part '{name}' comes too late.");
            }

            _openParts++;
            if (holdsSlot)
            {
                _openSlotParts++;
            }

            return new BatchPart(this, name, holdsSlot);
        }
    }

    /// <summary>Every initial part is added: from now on the batch is done when its last part completes.</summary>
    public void Seal()
    {
        lock (_lock)
        {
            _sealed = true;
        }

        Settle();
    }

    internal void Finish(BatchPart part, bool completed)
    {
        lock (_lock)
        {
            if (completed)
            {
                _openParts--;
            }

            if (part.HoldsSlot)
            {
                _openSlotParts--;
            }
        }

        Settle();
    }

    internal void Fail(Exception exception) => _tracker.OnFailed(exception);

    private void Settle()
    {
        bool releaseSlot, done;
        lock (_lock)
        {
            releaseSlot = _sealed && _openSlotParts == 0 && !_slotReleased;
            _slotReleased |= releaseSlot;
            done = _sealed && _openParts == 0 && !_done;
            _done |= done;
        }

        // Done before the slot is freed: a source woken by the free slot already sees the acknowledgement.
        if (done)
        {
            _tracker.OnDone(this);
        }

        if (releaseSlot)
        {
            _tracker.OnSlotReleased();
        }
    }
}

/// <summary>One piece of a batch's work. Exactly one of <see cref="Complete"/>, <see cref="Fail"/> or <see cref="Abandon"/> counts.</summary>
internal sealed class BatchPart
{
    private readonly TrackedBatch _batch;
    private int _finished;

    internal BatchPart(TrackedBatch batch, string name, bool holdsSlot)
    {
        _batch = batch;
        Name = name;
        HoldsSlot = holdsSlot;
    }

    public string Name { get; }

    public bool HoldsSlot { get; }

    /// <summary>The work is durably done (applied, or dead-lettered).</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _finished, 1) == 0)
        {
            _batch.Finish(this, completed: true);
        }
    }

    /// <summary>The work failed in a way the worker cannot handle: it stops, and nothing more is acknowledged.</summary>
    public void Fail(Exception exception)
    {
        if (Interlocked.Exchange(ref _finished, 1) == 0)
        {
            _batch.Fail(exception);
            _batch.Finish(this, completed: false);
        }
    }

    /// <summary>The work was cut short (shutdown): the batch is never done, but its slot is freed.</summary>
    public void Abandon()
    {
        if (Interlocked.Exchange(ref _finished, 1) == 0)
        {
            _batch.Finish(this, completed: false);
        }
    }
}
