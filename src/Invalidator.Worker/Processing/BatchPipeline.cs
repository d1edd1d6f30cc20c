using System.Diagnostics.CodeAnalysis;
using Invalidator.Worker.Consistency;

namespace Invalidator.Worker.Processing;

/// <summary>
/// One source's apply stage: takes the batches the source cut, in order, registers each with the source's
/// <see cref="AcknowledgementTracker"/> and runs its parts (regions, poison records) in the background, so the
/// source keeps consuming and planning meanwhile. At most <c>Invalidator:Batching:MaxInFlight</c> batches run at
/// once; <see cref="SubmitAsync"/> waits for a free slot (backpressure). A batch's delayed second delete is a part
/// that holds no slot: its <see cref="SecondDeleteScheduler"/> starts it here when due, so the shutdown covers it too.
/// So is the replica delete of a batch whose tables wait for the read replicas (<see cref="ReplicaWait"/>): once every
/// replica replayed the batch's changes, their names are deleted again, and only then their second delete scheduled.
/// </summary>
internal sealed class BatchPipeline : IDisposable
{
    private static readonly TimeSpan WaitTick = TimeSpan.FromMilliseconds(250);

    private readonly BatchApplier _applier;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _abandon = new();
    private readonly HashSet<Task> _running = [];
    private readonly Stack<SourceBatch> _spare = new();
    private readonly Lock _lock = new();
    private readonly SecondDeleteScheduler _secondDeletes;
    private readonly ReplicaWait? _replicas;

    /// <param name="replicas">The read replicas' wait, when the worker has replicas (a replay has none: its changes were replayed long ago).</param>
    public BatchPipeline(BatchApplier applier, AcknowledgementTracker tracker, TimeProvider time, ReplicaWait? replicas = null)
    {
        _applier = applier;
        Tracker = tracker;
        _time = time;
        _replicas = replicas is { IsOn: true } ? replicas : null;
        _secondDeletes = applier.NewSecondDeleteScheduler(StartSecondDelete, _abandon.Token);
    }

    public AcknowledgementTracker Tracker { get; }

    /// <summary>The batches' second deletes waiting for their delay (or running).</summary>
    internal SecondDeleteScheduler SecondDeletes => _secondDeletes;

    /// <summary>An empty batch for the source to fill: one whose work is done, reused, or a new one.</summary>
    public SourceBatch NewBatch()
    {
        lock (_lock)
        {
            return _spare.TryPop(out var batch) ? batch : new SourceBatch();
        }
    }

    /// <summary>
    /// Waits for a free slot (calling <paramref name="waiting"/> now and then meanwhile: the source is waiting, not
    /// hung), then starts the batch's work and returns. A batch with nothing but positions is done at once
    /// (acknowledged as soon as everything before it is). A part that fails sets the tracker's fault, and a later
    /// call throws <see cref="BatchFailedException"/>.
    /// </summary>
    public async Task SubmitAsync(SourceBatch batch, Action waiting, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(waiting);
        Tracker.ThrowIfFaulted();
        if (batch.IsPositionOnly)
        {
            Tracker.Register(batch).Seal();
            return;
        }

        // Backpressure: the source reads nothing more until a batch in flight finishes (or, past their bound, names
        // waiting for the replicas stop waiting).
        while (true)
        {
            // Read once: a batch in flight may finish between two reads of the tracker (another thread), and then the
            // second read would wait for replicas that may not exist.
            var trackerFull = !Tracker.HasRoom;
            if (!trackerFull && _replicas is not { HasRoom: false })
            {
                break;
            }

            waiting();
            var room = trackerFull ? Tracker.WaitForRoomAsync(cancellationToken) : _replicas!.WaitForRoomAsync(cancellationToken);
            try
            {
                await room.WaitAsync(WaitTick, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Still full: say so, and wait on.
            }
        }

        var cutAt = _time.GetTimestamp();
        var tracked = Tracker.Register(batch);
        var poison = batch.Poison.Count > 0 ? tracked.AddPart("poison") : null;
        var regions = tracked.AddPart("regions");
        tracked.Seal();
        var token = _abandon.Token;
        if (poison is not null)
        {
            Start(() => _applier.WritePoisonAsync(batch, token), tracked, poison, token);
        }

        Start(() => ApplyAsync(tracked, cutAt, token), tracked, regions, token);
    }

    /// <summary>
    /// The first deletes, then the later ones attached before the regions part completes, so the batch cannot be done
    /// in between: the second delete, or, when some names wait for the read replicas, their replica delete and the
    /// other names' second delete.
    /// </summary>
    private async Task ApplyAsync(TrackedBatch tracked, long cutAt, CancellationToken token)
    {
        await _applier.ApplyAsync(tracked, token).ConfigureAwait(false);
        if (_replicas?.NamesOf(tracked.Batch.Invalidations) is { } waiting)
        {
            StartReplicaDelete(tracked, waiting, cutAt);
            _secondDeletes.Schedule(tracked, waiting, afterReplicas: false);
        }
        else
        {
            _secondDeletes.Schedule(tracked);
        }
    }

    /// <summary>
    /// A part that holds no slot: waits until every replica replayed the batch's changes (or <c>ReplicaWaitMax</c>),
    /// deletes the waiting names again (with their lease keys), and schedules their second delete from then.
    /// </summary>
    private void StartReplicaDelete(TrackedBatch tracked, ReplicaWaitNames names, long cutAt)
    {
        var replicas = _replicas!;
        var part = tracked.AddPart("replica delete", holdsSlot: false);
        var held = names.Count(tracked.Batch.Invalidations);
        replicas.Hold(held);
        var token = _abandon.Token;
        Track(Task.Run(
            () => RunAsync(
                async () =>
                {
                    var position = await tracked.Batch.ReplicaPositionAsync().ConfigureAwait(false);
                    var expired = await replicas.WaitAsync(position, cutAt, token).ConfigureAwait(false);
                    await _applier.ApplyReplicaDeleteAsync(tracked, names.ToBatch(tracked.Batch.Invalidations), expired, token).ConfigureAwait(false);
                    _secondDeletes.Schedule(tracked, names, afterReplicas: true);
                },
                () =>
                {
                    replicas.Release(held);
                    part.Complete();
                    Recycle(tracked);
                },
                () =>
                {
                    replicas.Release(held);
                    part.Abandon();
                },
                ex =>
                {
                    replicas.Release(held);
                    part.Fail(ex);
                },
                token),
            CancellationToken.None));
    }

    /// <summary>
    /// Shutdown: cuts the running work short and waits for it to end. Work cut short is never done, so nothing
    /// unfinished is acknowledged; what finished before is. Second deletes still waiting for their delay are abandoned
    /// too: their batches are read again after the restart, and both deletes redone.
    /// </summary>
    public async Task AbandonAsync()
    {
        await _abandon.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_lock)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    /// <summary>After <see cref="AbandonAsync"/> (nothing runs any more), or when nothing was ever submitted.</summary>
    public void Dispose() => _abandon.Dispose();

    private void Start(Func<Task> work, TrackedBatch tracked, BatchPart part, CancellationToken token) =>
        Track(Task.Run(
            () => RunAsync(
                work,
                () =>
                {
                    part.Complete();
                    Recycle(tracked);
                },
                part.Abandon,
                part.Fail,
                token),
            CancellationToken.None));

    /// <summary>Runs a due second delete (the scheduler calls this under its lock: it only starts the task).</summary>
    private void StartSecondDelete(SecondDeleteRun run)
    {
        var token = _abandon.Token;
        Track(Task.Run(
            () => RunAsync(
                () => _applier.ApplySecondDeleteAsync(run, token),
                () =>
                {
                    run.Complete();
                    foreach (var tracked in run.Batches)
                    {
                        Recycle(tracked);
                    }
                },
                run.Abandon,
                run.Fail,
                token),
            CancellationToken.None));
    }

    private void Track(Task task)
    {
        lock (_lock)
        {
            _running.Add(task);
        }

        task.ContinueWith(
            (finished, state) =>
            {
                var pipeline = (BatchPipeline)state!;
                lock (pipeline._lock)
                {
                    pipeline._running.Remove(finished);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Runs work to its end: done, cut short by shutdown (never done), or failed (the source stops).</summary>
    [SuppressMessage("Design", "CA1031", Justification =
        "The work runs in the background, where an exception would be lost: every failure goes to the tracker's fault "
        + "(the part fails), which stops the source loop with BatchFailedException.")]
    private static async Task RunAsync(Func<Task> work, Action completed, Action abandoned, Action<Exception> failed, CancellationToken token)
    {
        try
        {
            await work().ConfigureAwait(false);
            completed();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            abandoned();
        }
        catch (Exception ex)
        {
            failed(ex);
        }
    }

    /// <summary>
    /// A done batch is kept for reuse (a few, as many as can be in flight): nothing reads it any more, since the
    /// tracker took its positions when it was registered and the parts are finished (the second delete's too: it reads
    /// the batch's names when it runs, so the batch is done, and reused, only after that).
    /// </summary>
    private void Recycle(TrackedBatch tracked)
    {
        if (!tracked.IsDone || !tracked.TakeForReuse())
        {
            return;
        }

        tracked.Batch.Reset();
        lock (_lock)
        {
            if (_spare.Count < Tracker.MaxInFlight)
            {
                _spare.Push(tracked.Batch);
            }
        }
    }
}
