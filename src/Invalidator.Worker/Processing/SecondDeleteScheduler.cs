using Invalidator.Core.Planning;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// Holds the delayed second deletes of a pipeline's batches until they are due, then hands them to the pipeline to
/// run. Each batch's share is a part of its <see cref="TrackedBatch"/> that holds no in-flight slot: the batch's
/// positions wait for it, later batches' first deletes do not. A share reads its batch's names only when it runs
/// (a batch is reused only once it is done), so nothing is copied while it waits.
/// </summary>
/// <remarks>
/// <para>Delays: every table gets its own. A rule's <c>secondDelete</c> applies to the names it planned (zero: none); the
/// global delay (<c>Invalidator:Consistency:SecondDeleteDelay</c>) to the batch's other names. A name planned by tables
/// with different delays is deleted again after each.</para>
/// <para>Coalescing: due times are rounded up to a tick (50 ms, or an eighth of a short delay), and the shares due at one
/// tick run as one delete, so a key that several batches of that tick invalidated is deleted once.</para>
/// <para>Bound: at most <c>Invalidator:Consistency:SecondDeleteMaxPending</c> keys and tags wait for their delay. A batch
/// that would exceed it makes the oldest waiting second deletes run at once, before their delay is up: memory
/// stays bounded, first deletes never wait for room, and no second delete is skipped (a crash could not skip one
/// either), only its window shortened. Those are counted in <c>invalidator_second_deletes_early_total</c>.</para>
/// </remarks>
internal sealed class SecondDeleteScheduler
{
    /// <summary>The longest a second delete runs after its delay, so that those due close together share one delete.</summary>
    public static readonly TimeSpan LongestTick = TimeSpan.FromMilliseconds(50);

    private static readonly TimeSpan EarlyLogInterval = TimeSpan.FromSeconds(10);

    private readonly TimeSpan _defaultDelay;
    private readonly long _maxPending;
    private readonly TimeProvider _time;
    private readonly Action<SecondDeleteRun> _start;
    private readonly WorkerEvents _events;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, SecondDeleteRun> _waiting = [];
    private readonly ITimer _timer;
    private readonly long _origin;
    private long _armedFor = long.MaxValue;
    private long _pending;
    private long _waitingNames;
    private bool _closed;
    private long? _lastEarlyLog;
    private long _earlyUnlogged;

    /// <param name="defaultDelay">The global delay (zero: only rules with their own <c>secondDelete</c> get one).</param>
    /// <param name="maxPending">Most keys and tags waiting for their delay; past it the oldest waiting run early.</param>
    /// <param name="time">The clock that says when a second delete is due.</param>
    /// <param name="start">Starts a due run (the pipeline: on its own task, covered by its shutdown). Called under the scheduler's lock: it must only start the work.</param>
    /// <param name="abandon">Shutdown: what waits is abandoned (never done, so never acknowledged), and nothing more starts.</param>
    public SecondDeleteScheduler(
        TimeSpan defaultDelay,
        long maxPending,
        TimeProvider time,
        Action<SecondDeleteRun> start,
        ILogger logger,
        WorkerEvents events,
        CancellationToken abandon)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(defaultDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPending, 1);
        _defaultDelay = defaultDelay;
        _maxPending = maxPending;
        _time = time;
        _start = start;
        _logger = logger;
        _events = events;
        _origin = time.GetTimestamp();
        _timer = time.CreateTimer(static state => ((SecondDeleteScheduler)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        abandon.Register(static state => ((SecondDeleteScheduler)state!).Close(), this);
    }

    /// <summary>Keys and tags held for their second delete: waiting for their delay, or running.</summary>
    public long Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending;
            }
        }
    }

    /// <summary>Second deletes waiting for their tick (each may hold shares of several batches).</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>The tick a delay is rounded up to: 50 ms, or an eighth of a delay shorter than 400 ms.</summary>
    public static TimeSpan TickOf(TimeSpan delay) =>
        TimeSpan.FromTicks(Math.Clamp(delay.Ticks / 8, TimeSpan.TicksPerMillisecond, LongestTick.Ticks));

    /// <summary>
    /// Attaches the batch's second deletes (one part per delay, holding no slot) and schedules them from now. Call it
    /// once the first deletes are durable and before the part that calls it completes, so the batch cannot be done in
    /// between. Does nothing for a batch without second deletes. Never waits.
    /// </summary>
    /// <param name="replicas">
    /// The batch's names that wait for the read replicas, when some do: their second delete counts from their replica
    /// delete, so it is scheduled in two calls, the other names' after the first delete (<paramref name="afterReplicas"/>
    /// false), theirs after the replica delete (true).
    /// </param>
    public void Schedule(TrackedBatch tracked, ReplicaWaitNames? replicas = null, bool afterReplicas = false)
    {
        ArgumentNullException.ThrowIfNull(tracked);
        if (replicas is { IsEvery: true })
        {
            // Every name waits: all of them after the replica delete, none before.
            if (!afterReplicas)
            {
                return;
            }

            replicas = null;
        }

        var shares = SharesOf(tracked, replicas, afterReplicas);
        if (shares.Count == 0)
        {
            return;
        }

        var now = Now();
        lock (_lock)
        {
            foreach (var share in shares)
            {
                if (_closed)
                {
                    // Shutting down: the batch must not be done without its second delete, so it is never done.
                    share.Part.Abandon();
                    continue;
                }

                var tick = TickOf(share.Delay).Ticks;
                var due = (now + share.Delay.Ticks + tick - 1) / tick * tick;
                if (!_waiting.TryGetValue(due, out var run))
                {
                    _waiting[due] = run = new SecondDeleteRun(this, TimeSpan.FromTicks(due));
                }

                run.Add(share);
                _pending += share.Count;
                _waitingNames += share.Count;
                _events.Publish(new SecondDeletesPendingChanged(share.Count));
            }

            StartEarlyWhileOverBound();
            Arm();
        }
    }

    private List<SecondDeleteShare> SharesOf(TrackedBatch tracked, ReplicaWaitNames? replicas, bool afterReplicas)
    {
        var invalidations = tracked.Batch.Invalidations;
        var shares = new List<SecondDeleteShare>();
        if (invalidations.IsEmpty)
        {
            return shares;
        }

        foreach (var (delay, listed) in invalidations.SecondDeletes)
        {
            var names = replicas is null ? listed : SecondDeleteShare.Split(listed.Keys, listed.Tags, replicas, afterReplicas);
            if (delay > TimeSpan.Zero && names.Count > 0)
            {
                shares.Add(new SecondDeleteShare(tracked, tracked.AddPart($"second delete {delay.TotalMilliseconds:0} ms", holdsSlot: false), delay, names, names.Count));
            }
        }

        if (_defaultDelay <= TimeSpan.Zero)
        {
            return shares;
        }

        if (replicas is null)
        {
            if (SecondDeleteShare.CountUnlisted(invalidations) is var unlisted and > 0)
            {
                shares.Add(new SecondDeleteShare(tracked, tracked.AddPart("second delete", holdsSlot: false), _defaultDelay, null, unlisted));
            }
        }
        else if (SecondDeleteShare.SplitUnlisted(invalidations, replicas, afterReplicas) is { Count: > 0 } unlisted)
        {
            shares.Add(new SecondDeleteShare(tracked, tracked.AddPart("second delete", holdsSlot: false), _defaultDelay, unlisted, unlisted.Count));
        }

        return shares;
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _armedFor = long.MaxValue;
            var now = Now();
            while (!_closed && _waiting.Count > 0 && _waiting.First() is var (due, run) && due <= now)
            {
                _waiting.Remove(due);
                _waitingNames -= run.Count;
                _start(run);
            }

            Arm();
        }
    }

    /// <summary>The bound: the oldest waiting runs start now, until what waits fits.</summary>
    private void StartEarlyWhileOverBound()
    {
        long early = 0;
        while (_waitingNames > _maxPending && _waiting.Count > 0)
        {
            var (due, run) = _waiting.First();
            _waiting.Remove(due);
            _waitingNames -= run.Count;
            run.Early = true;
            early += run.Count;
            _start(run);
        }

        if (early == 0)
        {
            return;
        }

        _events.Publish(new SecondDeletesRanEarly(early));
        _earlyUnlogged += early;
        var now = Now();
        if (_lastEarlyLog is not { } last || now - last >= EarlyLogInterval.Ticks)
        {
            Log.SecondDeletesRanEarly(_logger, _earlyUnlogged, _maxPending);
            _lastEarlyLog = now;
            _earlyUnlogged = 0;
        }
    }

    /// <summary>Sets the timer for the earliest waiting run (only when that changed).</summary>
    private void Arm()
    {
        if (_closed)
        {
            return;
        }

        var next = _waiting.Count > 0 ? _waiting.First().Key : long.MaxValue;
        if (next == _armedFor)
        {
            return;
        }

        _armedFor = next;
        _timer.Change(next == long.MaxValue ? Timeout.InfiniteTimeSpan : TimeSpan.FromTicks(Math.Max(0, next - Now())), Timeout.InfiniteTimeSpan);
    }

    /// <summary>Monotonic time since the scheduler was made, in ticks: a wall-clock jump neither delays nor hurries a second delete.</summary>
    private long Now() => _time.GetElapsedTime(_origin).Ticks;

    private void Close()
    {
        lock (_lock)
        {
            _closed = true;
            _timer.Dispose();
            foreach (var run in _waiting.Values)
            {
                run.Abandon();
            }

            _waiting.Clear();
            _waitingNames = 0;
        }
    }

    internal void Finished(SecondDeleteRun run)
    {
        lock (_lock)
        {
            _pending -= run.Count;
        }

        _events.Publish(new SecondDeletesPendingChanged(-run.Count));
    }
}

/// <summary>One batch's names that share one delay: a part of the batch, done when their second delete is.</summary>
/// <param name="Names">The names a rule with this <c>secondDelete</c> planned; null for the batch's names that no such rule planned (the global delay).</param>
/// <param name="Count">How many keys and tags (what the bound counts).</param>
internal sealed record SecondDeleteShare(TrackedBatch Batch, BatchPart Part, TimeSpan Delay, InvalidationNames? Names, int Count)
{
    /// <summary>Adds the share's keys and tags to <paramref name="into"/>, each with its lease mark from its own batch.</summary>
    public void AddTo(InvalidationBatch into)
    {
        var invalidations = Batch.Batch.Invalidations;
        into.AddWithLeaseMarks(
            invalidations,
            Names?.Keys ?? Unlisted(invalidations.Keys, invalidations, static n => n.Keys),
            Names?.Tags ?? Unlisted(invalidations.Tags, invalidations, static n => n.Tags));
    }

    /// <summary>How many of the batch's keys and tags no rule with its own <c>secondDelete</c> planned.</summary>
    public static int CountUnlisted(InvalidationBatch invalidations) =>
        invalidations.SecondDeletes.Count == 0
            ? invalidations.Keys.Count + invalidations.Tags.Count
            : Unlisted(invalidations.Keys, invalidations, static n => n.Keys).Count() + Unlisted(invalidations.Tags, invalidations, static n => n.Tags).Count();

    /// <summary>The names among <paramref name="keys"/> and <paramref name="tags"/> that wait for the replicas (<paramref name="waiting"/>) or that do not.</summary>
    public static InvalidationNames Split(IEnumerable<string> keys, IEnumerable<string> tags, ReplicaWaitNames replicas, bool waiting)
    {
        var names = new InvalidationNames();
        names.Add(keys.Where(key => replicas.HasKey(key) == waiting), tags.Where(tag => replicas.HasTag(tag) == waiting));
        return names;
    }

    /// <summary>The batch's names under the global delay that wait for the replicas (<paramref name="waiting"/>) or that do not.</summary>
    public static InvalidationNames SplitUnlisted(InvalidationBatch invalidations, ReplicaWaitNames replicas, bool waiting) =>
        Split(Unlisted(invalidations.Keys, invalidations, static n => n.Keys), Unlisted(invalidations.Tags, invalidations, static n => n.Tags), replicas, waiting);

    // A rule's own secondDelete (zero included) replaces the global delay for the names it planned.
    private static IEnumerable<string> Unlisted(IEnumerable<string> names, InvalidationBatch invalidations, Func<InvalidationNames, IReadOnlySet<string>> set) =>
        invalidations.SecondDeletes.Count == 0 ? names : names.Where(name => !invalidations.SecondDeletes.Values.Any(group => set(group).Contains(name)));
}

/// <summary>
/// The second deletes due at one tick, of one or more batches: run as one delete in every region. Exactly one of
/// <see cref="Complete"/>, <see cref="Abandon"/> or <see cref="Fail"/> ends it, for every share.
/// </summary>
internal sealed class SecondDeleteRun
{
    private readonly SecondDeleteScheduler _scheduler;
    private readonly List<SecondDeleteShare> _shares = [];
    private int _finished;

    internal SecondDeleteRun(SecondDeleteScheduler scheduler, TimeSpan due)
    {
        _scheduler = scheduler;
        Due = due;
    }

    /// <summary>When it is due, counted from the scheduler's start (it may start earlier: <see cref="Early"/>).</summary>
    public TimeSpan Due { get; }

    /// <summary>It started before its delay was up, because the pending bound was reached.</summary>
    public bool Early { get; internal set; }

    public IReadOnlyList<SecondDeleteShare> Shares => _shares;

    /// <summary>Keys and tags of its shares, before the shares are merged.</summary>
    public int Count { get; private set; }

    /// <summary>The distinct batches it covers.</summary>
    public IEnumerable<TrackedBatch> Batches => _shares.Select(s => s.Batch).Distinct();

    /// <summary>Its shares' names merged (a name several batches planned once), with their lease marks. Read while it runs.</summary>
    public InvalidationBatch Invalidations()
    {
        var merged = new InvalidationBatch();
        foreach (var share in _shares)
        {
            share.AddTo(merged);
        }

        return merged;
    }

    /// <summary>The source positions it covers, for a dead letter.</summary>
    public IReadOnlyList<RegionDeadLetter.SourceRange> Sources() =>
        Batches.SelectMany(b => b.Batch.Ranges()).ToList();

    /// <summary>The second delete is durable (applied in every region, or dead-lettered): its batches may be done.</summary>
    public void Complete() => Finish(share => share.Part.Complete());

    /// <summary>Cut short by shutdown: its batches are never done, so their positions are read again.</summary>
    public void Abandon() => Finish(share => share.Part.Abandon());

    /// <summary>Failed in a way the worker cannot handle: the source stops.</summary>
    public void Fail(Exception exception) => Finish(share => share.Part.Fail(exception));

    internal void Add(SecondDeleteShare share)
    {
        _shares.Add(share);
        Count += share.Count;
    }

    private void Finish(Action<SecondDeleteShare> end)
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        _scheduler.Finished(this);
        foreach (var share in _shares)
        {
            end(share);
        }
    }
}
