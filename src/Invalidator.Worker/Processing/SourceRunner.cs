using Invalidator.Worker.Events;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The one source loop, whatever the source (Kafka, the Postgres slot, a replay): it asks its
/// <see cref="IChangeSource"/> for the next change, planned into the <see cref="OpenBatch"/>, tracks its position and
/// its dead letter if it is poison, and hands the batch to the <see cref="BatchPipeline"/> when <see cref="BatchFill"/>
/// says it is due; it hands the source every position the <see cref="AcknowledgementTracker"/> acknowledged, on this
/// loop, so a source never acknowledges from another thread. <see cref="StopAsync"/> is the shutdown: the loop
/// stopped, running work abandoned (it stays unacknowledged), what finished before acknowledged, the tracker closed.
/// Without an applier (a dry run) a batch is only counted.
/// </summary>
internal sealed class SourceRunner : IDisposable
{
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a source that cannot be woken (Kafka's <c>Consume</c>) looks for finished work while some is unfinished.</summary>
    private static readonly TimeSpan AcknowledgeSlice = TimeSpan.FromMilliseconds(25);

    /// <summary>The liveness tick reads the clock: once per many records is plenty (the timeout is minutes).</summary>
    private const int LoopTickRecords = 256;

    /// <summary>Numbers the submitted batches of every runner, so the status can tell them apart.</summary>
    private static long _batchNumbers;

    private readonly string _name;
    private readonly BatchPipeline? _pipeline;
    private readonly TimeProvider _time;
    private readonly WorkerEvents? _events;
    private readonly Action _waiting;
    private readonly Dictionary<SourcePartition, long> _acknowledged = [];
    private readonly List<AcknowledgedPosition> _delivering = [];
    private readonly Lock _acknowledgedLock = new();
    private IChangeSource? _source;

    /// <param name="readWait">Set for a source that reads a backlog (a replay): a batch goes when full or when nothing came for that long (<see cref="BatchFill"/>).</param>
    /// <param name="replicas">The read replicas' wait (the worker's sources; a replay has none).</param>
    public SourceRunner(
        string name, RecordIntake planner, BatchApplier? applier, BatchingOptions batching, int maxRecordBytes, TimeProvider time, WorkerEvents? events = null, TimeSpan? readWait = null,
        Consistency.ReplicaWait? replicas = null)
    {
        _name = name;
        _time = time;
        _events = events;
        // The tracker's decision comes on whichever thread finished the work: it is only noted here, and handed to the
        // source on the loop (the tracker's Changed signal wakes a source that waits for it).
        Tracker = new AcknowledgementTracker(batching.MaxInFlight, Note);
        _pipeline = applier is null ? null : new BatchPipeline(applier, Tracker, time, replicas);
        Open = new OpenBatch(planner, new BatchFill(batching, time, readWait), maxRecordBytes);
        _waiting = () => _events?.Publish(new ConsumeLoopTicked(_name));
    }

    public OpenBatch Open { get; }

    public AcknowledgementTracker Tracker { get; }

    /// <summary>The pipeline's second deletes (null in a dry run).</summary>
    internal SecondDeleteScheduler? SecondDeletes => _pipeline?.SecondDeletes;

    /// <summary>Keys of the batches handed to the pipeline (or, in a dry run, counted) so far.</summary>
    public long SubmittedKeys { get; private set; }

    public long SubmittedTags { get; private set; }

    /// <summary>Batches handed over that had something to invalidate.</summary>
    public int SubmittedBatches { get; private set; }

    /// <summary>
    /// Reads, plans, batches and submits until the source ends (then waits until everything read is done), stops, a
    /// batch fails (<see cref="BatchFailedException"/>) or <paramref name="cancellationToken"/> stops it. Call
    /// <see cref="StopAsync"/> after it, however it ended.
    /// </summary>
    public async Task RunAsync(IChangeSource source, CancellationToken cancellationToken)
    {
        // The source's reads may block the thread this loop runs on (Kafka's Consume): the rest of the worker keeps threads.
        ThreadPoolFloor.Raise();
        _source = source;
        var fill = Open.Fill;
        var sinceTick = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (++sinceTick >= LoopTickRecords || Open.Batch.RecordCount == 0)
            {
                _events?.Publish(new ConsumeLoopTicked(_name));
                sinceTick = 0;
            }

            Tracker.ThrowIfFaulted();
            Deliver();
            if (fill.IsDue(Open.Batch.RecordCount, recordReady: true, Tracker.InFlight, Tracker.HasRoom))
            {
                await SubmitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            var read = await source.ReadAsync(PollTimeout(), Tracker.Changed, cancellationToken).ConfigureAwait(false);
            switch (read.Kind)
            {
                case SourceReadKind.Record:
                    Open.Add(read);
                    break;

                case SourceReadKind.Position:
                    Open.Batch.Advance(read.Partition.Source, read.Partition.Partition, read.Position, read.NextPosition);
                    if (Open.Batch.IsPositionOnly)
                    {
                        // Its records went out in earlier batches (or it had none): acknowledged as soon as they are
                        // done, without waiting for a batch to fill.
                        await SubmitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    break;

                case SourceReadKind.Nothing:
                    if (fill.IsDue(Open.Batch.RecordCount, recordReady: false, Tracker.InFlight, Tracker.HasRoom))
                    {
                        await SubmitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    break;

                case SourceReadKind.End:
                    if (Open.Batch.RecordCount > 0 || Open.Batch.Progress.Count > 0)
                    {
                        await SubmitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    if (Tracker.Unfinished == 0)
                    {
                        Deliver();
                        return;
                    }

                    await WaitForTrackerAsync(cancellationToken).ConfigureAwait(false);
                    break;

                default:
                    return;
            }
        }
    }

    /// <summary>
    /// The shutdown, after <see cref="RunAsync"/> however it ended: the loop is reported stopped with
    /// <paramref name="reason"/>, work in flight is cut short and stays unacknowledged, what finished before is
    /// handed to the source, and the tracker acknowledges nothing more: only then may the source's client go.
    /// </summary>
    public async Task StopAsync(string reason)
    {
        _events?.Publish(new ConsumeLoopStopped(_name, reason));
        if (_pipeline is not null)
        {
            await _pipeline.AbandonAsync().ConfigureAwait(false);
        }

        Deliver();
        Tracker.Close();
        Open.Discard();
    }

    /// <summary>After <see cref="StopAsync"/>, or when the runner never ran.</summary>
    public void Dispose() => _pipeline?.Dispose();

    /// <summary>
    /// Forgets partitions the source no longer owns (revoked, lost, or a replication session that ended): what was
    /// finished on them is acknowledged first, while they are still the source's; their unfinished positions never
    /// are, and the next owner (or session) reads them again. Their keys may stay in the open batch (a repeated delete
    /// is harmless); an open batch left with nothing to acknowledge is discarded. Returns how many of them had
    /// unacknowledged work.
    /// </summary>
    public int Drop(IReadOnlyCollection<SourcePartition> partitions)
    {
        Deliver();
        var inOpenBatch = partitions.Count(Open.Batch.Forget);
        var dropped = Tracker.Drop(partitions);
        lock (_acknowledgedLock)
        {
            // Acknowledged between the delivery and the drop: left to the next owner, like the unfinished work.
            foreach (var partition in partitions)
            {
                _acknowledged.Remove(partition);
            }
        }

        if (Open.Batch.Progress.Count == 0)
        {
            Open.Discard();
        }

        return Math.Max(dropped, inOpenBatch);
    }

    /// <summary>How long the source may wait for the next record before the batch and the tracker are looked at again.</summary>
    private TimeSpan PollTimeout()
    {
        var records = Open.Batch.RecordCount;
        var wait = Open.Fill.PollTimeout(records, Tracker.InFlight, Tracker.HasRoom, IdlePoll);
        return records == 0 && wait > AcknowledgeSlice && Tracker.Unfinished > 0 ? AcknowledgeSlice : wait;
    }

    /// <summary>Hands the open batch to the pipeline (which waits for a free slot) and starts a new one.</summary>
    private async Task SubmitAsync(CancellationToken cancellationToken)
    {
        var batch = Open.Batch;
        // Counted before the pipeline takes it: a finished batch is emptied and reused.
        SubmittedKeys += batch.Invalidations.Keys.Count;
        SubmittedTags += batch.Invalidations.Tags.Count;
        SubmittedBatches += batch.Invalidations.IsEmpty ? 0 : 1;
        if (_pipeline is null)
        {
            Open.Discard();
            return;
        }

        Open.Cut(_pipeline.NewBatch());
        // Numbered in read order. Its changes wait from now (the lag is the oldest one's age) until its BatchApplied,
        // even while it waits for a slot; the applied position (direct mode) passes a position-only batch at once.
        batch.Sequence = Interlocked.Increment(ref _batchNumbers);
        _events?.Publish(new BatchSubmitted(
            batch.Sequence, [.. batch.Progress.Select(p => new PartitionSubmitted(p.Key, p.FirstCommitTime, p.NextPosition))], _time.GetUtcNow(), batch.IsPositionOnly));

        await _pipeline.SubmitAsync(batch, _waiting, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the tracker's next change, or a while: a source that ended waits for what it read to be done.</summary>
    private async Task WaitForTrackerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Tracker.Changed.WaitAsync(IdlePoll, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Nothing changed meanwhile: look again.
        }
    }

    /// <summary>The tracker's acknowledgement (under its lock, any thread): noted, the furthest per partition, for the loop to deliver.</summary>
    private void Note(AcknowledgedPosition position)
    {
        lock (_acknowledgedLock)
        {
            _acknowledged[position.Partition] = position.Position;
        }
    }

    /// <summary>Hands the source what the tracker acknowledged since the last time, on the loop.</summary>
    private void Deliver()
    {
        lock (_acknowledgedLock)
        {
            foreach (var (partition, position) in _acknowledged)
            {
                _delivering.Add(new AcknowledgedPosition(partition, position));
            }

            _acknowledged.Clear();
        }

        foreach (var position in _delivering)
        {
            _source?.Acknowledge(position);
        }

        _delivering.Clear();
    }
}
