using Invalidator.Worker.Events;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// Read-your-writes in direct mode: the position each region has applied, for <see cref="AppliedPositionWriter"/> to
/// publish as <c>invalidator:applied</c>. The slot streams one database in commit order, so a position is a watermark of
/// the database: it is applied once every batch read before it is applied (its first deletes, in every region or
/// durably dead-lettered), and a position-only batch (a commit, the server's position while idle) right behind them is
/// passed at once. Batches finish in any order; the watermark is the furthest position with nothing unapplied before it.
/// </summary>
/// <remarks>
/// A region that dead-letters a batch has not applied it: its position stops (reads that wait for it bypass the cache
/// there) until its redrive has emptied its backlog, seen twice in a row after the last letter (a turn that measured
/// before the letter was written may report it empty once). Only the direct source's stream is tracked. Events come on
/// the pipeline's threads: each is a few operations under a lock, without I/O.
/// </remarks>
internal sealed class AppliedPositions :
    IEventListener<BatchSubmitted>,
    IEventListener<BatchApplied>,
    IEventListener<RegionDeadLetteringStarted>,
    IEventListener<RedriveBacklogMeasured>
{
    /// <summary>The direct source's stream: <c>postgres</c>, partition 0.</summary>
    internal static readonly SourcePartition Stream = new("postgres", 0);

    private readonly Lock _lock = new();
    private readonly Queue<Entry> _order = new();
    private readonly Dictionary<long, Entry> _unapplied = [];
    private readonly Dictionary<string, int> _frozen = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = NewSignal();
    private ulong _watermark;

    /// <summary>Completes when the watermark moved or a region was frozen or thawed.</summary>
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

    /// <summary>
    /// The position <paramref name="region"/> has applied: every change committed before it is invalidated there. Null
    /// while the region is frozen (it dead-lettered), and 0 before anything was applied.
    /// </summary>
    public ulong? Applied(string region)
    {
        lock (_lock)
        {
            return _frozen.ContainsKey(region) ? null : _watermark;
        }
    }

    public void On(in BatchSubmitted e)
    {
        if (FindStream(e.Partitions) is not { } position)
        {
            return;
        }

        lock (_lock)
        {
            var entry = new Entry(e.Batch, position) { Applied = e.PositionOnly };
            _order.Enqueue(entry);
            if (!e.PositionOnly)
            {
                _unapplied[e.Batch] = entry;
            }

            Advance();
        }
    }

    public void On(in BatchApplied e)
    {
        lock (_lock)
        {
            if (_unapplied.Remove(e.Batch, out var entry))
            {
                entry.Applied = true;
                Advance();
            }
        }
    }

    public void On(in RegionDeadLetteringStarted e)
    {
        lock (_lock)
        {
            // Before the batch's BatchApplied (its letter is written, then this, then that): the watermark cannot pass it here.
            _frozen[e.Region] = 0;
            Signal();
        }
    }

    public void On(in RedriveBacklogMeasured e)
    {
        lock (_lock)
        {
            if (!_frozen.TryGetValue(e.Region, out var emptyTurns))
            {
                return;
            }

            if (e.Oldest is not null)
            {
                _frozen[e.Region] = 0;
            }
            else if (emptyTurns + 1 >= 2)
            {
                // Every letter written before the previous turn is redriven: the region has applied all that is applied.
                _frozen.Remove(e.Region);
                Signal();
            }
            else
            {
                _frozen[e.Region] = emptyTurns + 1;
            }
        }
    }

    private static long? FindStream(IReadOnlyList<PartitionSubmitted> partitions)
    {
        foreach (var partition in partitions)
        {
            if (partition.Partition == Stream)
            {
                return partition.NextPosition;
            }
        }

        return null;
    }

    /// <summary>Pops the applied batches at the front: the watermark reaches the furthest position they cover.</summary>
    private void Advance()
    {
        var moved = false;
        while (_order.TryPeek(out var entry) && entry.Applied)
        {
            _order.Dequeue();
            // A new replication session streams from the confirmed position again: positions may go back; the watermark does not.
            if ((ulong)entry.Position > _watermark)
            {
                _watermark = (ulong)entry.Position;
                moved = true;
            }
        }

        if (moved)
        {
            Signal();
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Entry(long batch, long position)
    {
        public long Batch { get; } = batch;

        public long Position { get; } = position;

        public bool Applied { get; set; }
    }
}
