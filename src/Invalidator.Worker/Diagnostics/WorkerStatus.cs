using System.Collections.Concurrent;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// What the worker is doing right now, read from its events: the sources' loop turns, assignments and librdkafka
/// statistics, applied batches, the regions (applied, failed, circuit state, redrive), dead letters, second deletes,
/// shadow plans. <c>/healthz</c>, <c>/readyz</c>, the status page and the gauges read it. Every event is taken
/// cheaply and thread-safely, without I/O, since it is published from the hot paths.
/// </summary>
internal sealed class WorkerStatus :
    IEventListener<ConsumeLoopTicked>,
    IEventListener<ConsumeLoopStopped>,
    IEventListener<PartitionsAssigned>,
    IEventListener<PartitionsRevoked>,
    IEventListener<SourceConnected>,
    IEventListener<SourceDisconnected>,
    IEventListener<ConsumerStatisticsReported>,
    IEventListener<SlotLagPolled>,
    IEventListener<BatchSubmitted>,
    IEventListener<BatchApplied>,
    IEventListener<RegionApplied>,
    IEventListener<RegionSecondDeleted>,
    IEventListener<RegionReplicaDeleted>,
    IEventListener<RegionFailed>,
    IEventListener<CircuitOpened>,
    IEventListener<CircuitHalfOpened>,
    IEventListener<CircuitClosed>,
    IEventListener<RegionDeadLetteringStarted>,
    IEventListener<RedriveBacklogMeasured>,
    IEventListener<DeadLetterWritten>,
    IEventListener<SecondDeletesPendingChanged>,
    IEventListener<SecondDeletesRanEarly>,
    IEventListener<ShadowPlanned>,
    IEventListener<SuspectDefaultIdentitySeen>,
    IEventListener<ReplicaWatched>,
    IEventListener<ReplicaPolled>,
    IEventListener<ReplicaWaitExpired>,
    IEventListener<CanaryMeasured>
{
    private const int RecentDeadLetters = 20;

    /// <summary>The direct source's name (its one partition is the slot's stream).</summary>
    private const string SlotSource = "postgres";

    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, LoopState> _loops = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string?> _connectedSources = new(StringComparer.Ordinal);
    private readonly Dictionary<SourcePartition, PartitionState> _partitions = [];
    private readonly Lock _partitionsLock = new();
    private readonly Dictionary<string, RegionStatus> _regions = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, ShadowState> _shadow = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SuspectIdentityState> _suspectIdentity = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ReplicaState> _replicas = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FreshnessWindow> _freshness = new(StringComparer.OrdinalIgnoreCase);
    private readonly Queue<DeadLetterView> _deadLetters = new();
    private readonly Lock _deadLettersLock = new();
    private readonly RateWindow _throughput;
    private readonly LatencyWindow _endToEnd = new();
    private volatile Statistics? _statistics;
    private volatile SlotView? _slot;
    private long _recordsApplied;
    private long _batchesApplied;
    private long _deadLetterTotal;
    private long _lastRegionActivity;
    private long _secondDeletesPending;
    private long _secondDeletesEarly;

    public WorkerStatus(IOptions<InvalidatorOptions> options, TimeProvider time)
    {
        _time = time;
        _throughput = new RateWindow(time);
        StartedAt = time.GetUtcNow();
        SecondDeleteDelay = options.Value.Consistency.SecondDeleteDelay;
        MaxRedriveAge = options.Value.DeadLetter.MaxRedriveAge;
        Probe = options.Value.Probe;
        foreach (var region in options.Value.Regions.Keys.Order(StringComparer.Ordinal))
        {
            _regions[region] = new RegionStatus(region, time);
        }
    }

    public DateTimeOffset StartedAt { get; }

    /// <summary><c>Invalidator:Probe</c>: whether the worker probes, and its objective.</summary>
    public ProbeOptions Probe { get; }

    // ---- The freshness probe ----

    public void On(in CanaryMeasured e) => _freshness.GetOrAdd(e.Region, static r => new FreshnessWindow(r)).Add(in e);

    /// <summary>Each region's canaries of the last 15 minutes, by region name.</summary>
    public IReadOnlyList<FreshnessView> Freshness()
    {
        var now = _time.GetUtcNow();
        return [.. _freshness.Values.Select(w => w.Summarize(now)).OrderBy(v => v.Region, StringComparer.Ordinal)];
    }

    /// <summary><c>Invalidator:Consistency:SecondDeleteDelay</c> (zero: off, except for rules with their own <c>secondDelete</c>).</summary>
    public TimeSpan SecondDeleteDelay { get; }

    /// <summary><c>Invalidator:DeadLetter:MaxRedriveAge</c>: a region whose redrive backlog is older is not ready.</summary>
    public TimeSpan MaxRedriveAge { get; }

    // ---- Sources ----

    public void On(in ConsumeLoopTicked e) => _loops.GetOrAdd(e.Source, static _ => new LoopState()).Tick(_time.GetUtcNow());

    public void On(in ConsumeLoopStopped e) => _loops.GetOrAdd(e.Source, static _ => new LoopState()).Stop(e.Reason);

    public void On(in PartitionsAssigned e)
    {
        lock (_partitionsLock)
        {
            foreach (var partition in e.Partitions)
            {
                _partitions.TryAdd(partition, new PartitionState());
            }
        }
    }

    public void On(in PartitionsRevoked e)
    {
        lock (_partitionsLock)
        {
            foreach (var partition in e.Partitions)
            {
                _partitions.Remove(partition);
            }
        }
    }

    public void On(in SourceConnected e) => _connectedSources[e.Source] = null;

    public void On(in SourceDisconnected e) => _connectedSources[e.Source] = e.Reason;

    // Only the string is kept (the handler runs inside Consume()); it is parsed when read.
    public void On(in ConsumerStatisticsReported e) => _statistics = new Statistics(e.Json, _time.GetUtcNow());

    public void On(in SlotLagPolled e) => _slot = new SlotView(e.Slot, e.Bytes, _time.GetUtcNow(), e.Error);

    // ---- Submitted and applied batches ----

    /// <summary>The batch's changes wait from now until its <see cref="BatchApplied"/>: per partition, since its oldest commit.</summary>
    public void On(in BatchSubmitted e)
    {
        lock (_partitionsLock)
        {
            foreach (var submitted in e.Partitions)
            {
                // A source without assignments (the direct source) owns what it submits.
                if (!_partitions.TryGetValue(submitted.Partition, out var state))
                {
                    _partitions[submitted.Partition] = state = new PartitionState();
                }

                if (!e.PositionOnly)
                {
                    state.Unapplied[e.Batch] = submitted.FirstCommitTime ?? e.At;
                }
            }
        }
    }

    /// <summary>End-to-end latency, per-partition positions and commit times, throughput; the batch's changes no longer wait.</summary>
    public void On(in BatchApplied e)
    {
        if (e.CommitTimes.Count > 0)
        {
            var samples = new double[e.CommitTimes.Count];
            for (var i = 0; i < samples.Length; i++)
            {
                // A commit time ahead of this clock is skew between hosts, not negative latency.
                samples[i] = Math.Max(0, (e.At - e.CommitTimes[i]).TotalSeconds);
            }

            _endToEnd.AddRange(samples);
        }

        lock (_partitionsLock)
        {
            foreach (var progress in e.Partitions)
            {
                // Only a partition still owned: a batch submitted before its partition was revoked may be applied
                // after, and must not bring it back to the list (its submit, or its assignment, added it).
                if (!_partitions.TryGetValue(progress.Partition, out var state))
                {
                    continue;
                }

                // Batches in flight finish in any order: the furthest position applied so far.
                state.NextPosition = Math.Max(state.NextPosition ?? long.MinValue, progress.NextPosition);
                state.LastCommitTime = progress.LastCommitTime ?? state.LastCommitTime;
                state.LastAppliedAt = e.At;
                state.Unapplied.Remove(e.Batch);
            }
        }

        Interlocked.Add(ref _recordsApplied, e.Records);
        Interlocked.Increment(ref _batchesApplied);
        _throughput.Add(e.Records);
    }

    // ---- Regions ----

    public void On(in RegionApplied e)
    {
        RegionActivity();
        Region(e.Region)?.Applied(e.KeysDeleted, e.KeysFound, e.Duration);
    }

    public void On(in RegionSecondDeleted e)
    {
        RegionActivity();
        Region(e.Region)?.SecondDeleted(e.KeysDeleted, e.KeysFound);
    }

    public void On(in RegionReplicaDeleted e)
    {
        RegionActivity();
        Region(e.Region)?.Succeeded();
    }

    public void On(in RegionFailed e)
    {
        RegionActivity();
        Region(e.Region)?.Failed(e.Error.GetBaseException().Message);
    }

    public void On(in CircuitOpened e) => Region(e.Region)?.SetCircuit(CircuitState.Open);

    public void On(in CircuitHalfOpened e) => Region(e.Region)?.SetCircuit(CircuitState.HalfOpen);

    public void On(in CircuitClosed e) => Region(e.Region)?.SetCircuit(CircuitState.Closed);

    public void On(in RegionDeadLetteringStarted e) => Region(e.Region)?.DeadLetteringStarted();

    public void On(in RedriveBacklogMeasured e) => Region(e.Region)?.SetRedriveBacklog(e.Oldest, e.Letter);

    // ---- Dead letters, second deletes, planning ----

    public void On(in DeadLetterWritten e)
    {
        Interlocked.Increment(ref _deadLetterTotal);
        lock (_deadLettersLock)
        {
            _deadLetters.Enqueue(new DeadLetterView(_time.GetUtcNow(), e.Kind, e.Region, e.Summary));
            while (_deadLetters.Count > RecentDeadLetters)
            {
                _deadLetters.Dequeue();
            }
        }
    }

    public void On(in SecondDeletesPendingChanged e) => Interlocked.Add(ref _secondDeletesPending, e.Delta);

    public void On(in SecondDeletesRanEarly e) => Interlocked.Add(ref _secondDeletesEarly, e.Names);

    public void On(in ShadowPlanned e) =>
        _shadow.GetOrAdd(e.Table, static _ => new ShadowState()).Add(e.Keys, e.Tags, e.Example, _time.GetUtcNow());

    // Only tables with a rule are reported, so this stays small.
    public void On(in SuspectDefaultIdentitySeen e) =>
        _suspectIdentity.GetOrAdd(e.Table, static _ => new SuspectIdentityState()).Add(_time.GetUtcNow());

    public void On(in ReplicaWatched e) => _replicas.GetOrAdd(e.Replica, static _ => new ReplicaState());

    public void On(in ReplicaPolled e) => _replicas.GetOrAdd(e.Replica, static _ => new ReplicaState()).Polled(e);

    public void On(in ReplicaWaitExpired e) => _replicas.GetOrAdd(e.Replica, static _ => new ReplicaState()).Expired();

    // ---- Reads: status page, health checks, gauges ----

    /// <summary>The read replicas the worker waits for, with their replay lag as last polled.</summary>
    internal IReadOnlyList<ReplicaView> Replicas() =>
        _replicas.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Value.View(r.Key)).ToList();

    internal IReadOnlyList<SuspectIdentityView> SuspectDefaultIdentities() =>
        _suspectIdentity.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Value.View(s.Key)).ToList();

    internal IReadOnlyList<ShadowTableView> Shadow() =>
        _shadow.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Value.View(s.Key)).ToList();

    internal TimeProvider Time => _time;

    internal long RecordsApplied => Interlocked.Read(ref _recordsApplied);

    internal long BatchesApplied => Interlocked.Read(ref _batchesApplied);

    internal RateWindow Throughput => _throughput;

    internal long SecondDeletesPending => Interlocked.Read(ref _secondDeletesPending);

    internal long SecondDeletesEarly => Interlocked.Read(ref _secondDeletesEarly);

    internal LatencySummary EndToEnd => _endToEnd.Summarize();

    internal DateTimeOffset? LastRegionActivity =>
        Volatile.Read(ref _lastRegionActivity) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    internal IReadOnlyList<(string Source, DateTimeOffset? LastTick, string? StoppedReason)> Loops() =>
        _loops.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => (l.Key, l.Value.LastTick, l.Value.StoppedReason)).ToList();

    internal IReadOnlyList<(string Source, string? DisconnectedReason)> ConnectedSources() =>
        _connectedSources.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => (s.Key, s.Value)).ToList();

    /// <summary>
    /// The owned partitions (librdkafka keeps reporting revoked ones for a while: those are left out), each with its lag:
    /// messages (Kafka), seconds (<see cref="SourceLag"/>: 0 when nothing waits), and for the direct source the slot's bytes.
    /// </summary>
    internal IReadOnlyList<PartitionView> Partitions()
    {
        var now = _time.GetUtcNow();
        var statistics = _statistics;
        var offsets = ParsedStatistics();
        var slot = _slot;
        lock (_partitionsLock)
        {
            return _partitions
                .OrderBy(p => p.Key.Source, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Partition)
                .Select(p =>
                {
                    var state = p.Value;
                    var lagMessages = offsets?.GetValueOrDefault((p.Key.Source, p.Key.Partition)).LagMessages;
                    // Statistics from before the last applied batch settled still count what it applied.
                    var unreadWaiting = lagMessages > 0 && statistics!.ReceivedAt - (state.LastAppliedAt ?? DateTimeOffset.MinValue) >= SourceLag.StatisticsSettle;
                    DateTimeOffset? oldest = state.Unapplied.Count > 0 ? state.Unapplied.Values.Min() : null;
                    return new PartitionView(
                        p.Key.Source,
                        p.Key.Partition,
                        lagMessages,
                        SourceLag.Seconds(now, oldest, unreadWaiting, state.LastCommitTime),
                        state.NextPosition,
                        state.LastAppliedAt,
                        slot is not null && p.Key.Source == SlotSource ? slot.LagBytes : null);
                })
                .ToList();
        }
    }

    /// <summary>The direct source's slot as last polled (null in Kafka mode, and before the first poll).</summary>
    internal SlotView? Slot => _slot;

    internal double? StatisticsAgeSeconds => _statistics is { } statistics ? (_time.GetUtcNow() - statistics.ReceivedAt).TotalSeconds : null;

    internal IReadOnlyList<RegionSnapshot> Regions() => _regions.Values.OrderBy(r => r.Name, StringComparer.Ordinal).Select(r => r.Snapshot()).ToList();

    internal (long Total, IReadOnlyList<DeadLetterView> Recent) DeadLetters()
    {
        lock (_deadLettersLock)
        {
            return (Interlocked.Read(ref _deadLetterTotal), _deadLetters.Reverse().ToList());
        }
    }

    private void RegionActivity() => Volatile.Write(ref _lastRegionActivity, _time.GetUtcNow().UtcTicks);

    private RegionStatus? Region(string region) => _regions.GetValueOrDefault(region);

    private Dictionary<(string Topic, int Partition), PartitionOffsets>? ParsedStatistics()
    {
        var statistics = _statistics;
        if (statistics is null)
        {
            return null;
        }

        // Parsed at most once per statistics message, whoever reads first.
        return statistics.Parsed ??= KafkaStatistics.Parse(statistics.Json);
    }

    private sealed class Statistics(string json, DateTimeOffset receivedAt)
    {
        public string Json { get; } = json;

        public DateTimeOffset ReceivedAt { get; } = receivedAt;

        public Dictionary<(string Topic, int Partition), PartitionOffsets>? Parsed { get; set; }
    }

    private sealed class LoopState
    {
        private long _lastTick;
        private volatile string? _stoppedReason;

        public DateTimeOffset? LastTick => Volatile.Read(ref _lastTick) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

        public string? StoppedReason => _stoppedReason;

        public void Tick(DateTimeOffset now)
        {
            Volatile.Write(ref _lastTick, now.UtcTicks);
            _stoppedReason = null;
        }

        public void Stop(string reason) => _stoppedReason = reason;
    }

    private sealed class ShadowState
    {
        private readonly Lock _lock = new();
        private long _records;
        private long _keys;
        private long _tags;
        private string? _example;
        private DateTimeOffset? _lastAt;

        public void Add(int keys, int tags, string? example, DateTimeOffset now)
        {
            lock (_lock)
            {
                _records++;
                _keys += keys;
                _tags += tags;
                _example = example ?? _example;
                _lastAt = now;
            }
        }

        public ShadowTableView View(string table)
        {
            lock (_lock)
            {
                return new ShadowTableView(table, _records, _keys, _tags, _example, _lastAt);
            }
        }
    }

    private sealed class SuspectIdentityState
    {
        private long _deletes;
        private long _lastAt;

        public void Add(DateTimeOffset now)
        {
            Interlocked.Increment(ref _deletes);
            Volatile.Write(ref _lastAt, now.UtcTicks);
        }

        public SuspectIdentityView View(string table) => new(
            table,
            Interlocked.Read(ref _deletes),
            new DateTimeOffset(Volatile.Read(ref _lastAt), TimeSpan.Zero),
            $"ALTER TABLE {table} REPLICA IDENTITY FULL, or add 'replicaIdentity: default' to its rule (only the key's columns of old rows are then used); " +
            "if the table is FULL and such rows are real, add 'replicaIdentity: full'");
    }

    private sealed class PartitionState
    {
        /// <summary>Submitted batches not applied yet: since when each one's changes wait (the oldest commit, else when it was cut).</summary>
        public Dictionary<long, DateTimeOffset> Unapplied { get; } = [];

        public long? NextPosition { get; set; }

        public DateTimeOffset? LastCommitTime { get; set; }

        public DateTimeOffset? LastAppliedAt { get; set; }
    }
}

/// <summary>One owned partition on the status page; <paramref name="LagBytes"/> is the slot's, for the direct source.</summary>
internal sealed record PartitionView(string Source, int Partition, long? LagMessages, double? LagSeconds, long? NextPosition, DateTimeOffset? LastAppliedAt, long? LagBytes = null);

/// <summary>
/// The direct source's replication slot as last polled: the server's WAL past its confirmed position, in bytes (null
/// before the slot exists or when the poll failed, with the reason).
/// </summary>
internal sealed record SlotView(string Name, long? LagBytes, DateTimeOffset PolledAt, string? Error);

/// <summary>One table's shadow plans since the start: what would have been deleted.</summary>
internal sealed record ShadowTableView(string Table, long Records, long Keys, long Tags, string? LastExample, DateTimeOffset? LastAt);

/// <summary>
/// A table whose deletes looked like REPLICA IDENTITY DEFAULT's (before images of the key's columns and type defaults)
/// while its rule does not state <c>replicaIdentity</c>: how many, when last, and the fix.
/// </summary>
internal sealed record SuspectIdentityView(string Table, long Deletes, DateTimeOffset LastAt, string Fix);

/// <summary>One recent dead letter on the status page.</summary>
internal sealed record DeadLetterView(DateTimeOffset At, string Reason, string Region, string Summary);
