using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Sources.Kafka;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// What the worker is doing right now, told by the parts that do it: the sources (loop turns, assignments,
/// librdkafka statistics), the regions (applied, failed, circuit state) and the dead-letter publisher.
/// <c>/healthz</c>, <c>/readyz</c>, the status page and the gauges read it. Every method is cheap and
/// thread-safe, and none does I/O, so callers may call it from their hot paths.
/// </summary>
internal sealed class WorkerStatus : IBatchListener
{
    private const int RecentDeadLetters = 20;

    private readonly InvalidatorMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, LoopState> _loops = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string?> _connectedSources = new(StringComparer.Ordinal);
    private readonly Dictionary<SourcePartition, PartitionState> _partitions = [];
    private readonly Lock _partitionsLock = new();
    private readonly Dictionary<string, RegionState> _regions = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, ShadowState> _shadow = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SuspectIdentityState> _suspectIdentity = new(StringComparer.Ordinal);
    private readonly Queue<DeadLetterView> _deadLetters = new();
    private readonly Lock _deadLettersLock = new();
    private readonly RateWindow _throughput;
    private readonly LatencyWindow _endToEnd = new();
    private volatile Statistics? _statistics;
    private long _recordsApplied;
    private long _batchesApplied;
    private long _deadLetterTotal;
    private long _lastRegionActivity;
    private long _secondDeletesPending;
    private long _secondDeletesEarly;

    internal WorkerStatus(IOptions<InvalidatorOptions> options, InvalidatorMetrics metrics, TimeProvider time)
    {
        _metrics = metrics;
        _time = time;
        _throughput = new RateWindow(time);
        StartedAt = time.GetUtcNow();
        SecondDeleteDelay = options.Value.Consistency.SecondDeleteDelay;
        MaxRedriveAge = options.Value.DeadLetter.MaxRedriveAge;
        foreach (var region in options.Value.Regions.Keys.Order(StringComparer.Ordinal))
        {
            _regions[region] = new RegionState(region, time);
            // Series exist from the start at 0, so rate() and increase() see the first retry or dead letter.
            var tag = new KeyValuePair<string, object?>("region", region);
            metrics.KeysDeleted.Add(0, tag);
            metrics.KeysFound.Add(0, tag);
            metrics.RegionRetries.Add(0, tag);
            metrics.SecondDeletes.Add(0, tag);
            metrics.SecondDeleteHits.Add(0, tag);
            metrics.RegionPoison.Add(0, tag);
        }

        metrics.DeadLetters.Add(0, new("reason", "poison"), new("region", ""));
        metrics.SecondDeletesEarly.Add(0);
        metrics.ObserveStatus(ConsumerLagMeasurements, LagSecondsMeasurements, CircuitMeasurements, () => Interlocked.Read(ref _secondDeletesPending));
        metrics.ObserveRedriveBacklog(RedriveBacklogMeasurements);
    }

    public DateTimeOffset StartedAt { get; }

    /// <summary><c>Invalidator:Consistency:SecondDeleteDelay</c> (zero: off, except for rules with their own <c>secondDelete</c>).</summary>
    public TimeSpan SecondDeleteDelay { get; }

    /// <summary><c>Invalidator:DeadLetter:MaxRedriveAge</c>: a region whose redrive backlog is older is not ready.</summary>
    public TimeSpan MaxRedriveAge { get; }

    // ---- Sources ----

    /// <summary>A source's consume loop went round (call it at least every few seconds while idle): <c>/healthz</c> watches it.</summary>
    public void ConsumeLoopTick(string source) =>
        _loops.GetOrAdd(source, static _ => new LoopState()).Tick(_time.GetUtcNow());

    /// <summary>A source's consume loop ended (shutdown or failure): <c>/healthz</c> reports it dead with the reason.</summary>
    public void ConsumeLoopStopped(string source, string reason) =>
        _loops.GetOrAdd(source, static _ => new LoopState()).Stop(reason);

    /// <summary>Partitions this worker now owns (Kafka rebalance). <c>/readyz</c> needs at least one, or a connected source.</summary>
    public void PartitionsAssigned(IEnumerable<SourcePartition> partitions)
    {
        lock (_partitionsLock)
        {
            foreach (var partition in partitions)
            {
                _partitions.TryAdd(partition, new PartitionState());
            }
        }
    }

    /// <summary>Partitions taken away (revoked or lost): their lag series disappear.</summary>
    public void PartitionsRevoked(IEnumerable<SourcePartition> partitions)
    {
        lock (_partitionsLock)
        {
            foreach (var partition in partitions)
            {
                _partitions.Remove(partition);
            }
        }
    }

    /// <summary>A source without partitions (Postgres replication) is streaming.</summary>
    public void SourceConnected(string source) => _connectedSources[source] = null;

    /// <summary>A source without partitions lost its stream; <paramref name="reason"/> shows in <c>/readyz</c>.</summary>
    public void SourceDisconnected(string source, string reason) => _connectedSources[source] = reason;

    /// <summary>
    /// librdkafka's statistics JSON, from the consumer's statistics handler. Only the string is kept here
    /// (the handler runs inside Consume()); it is parsed when read.
    /// </summary>
    public void KafkaStatisticsReceived(string json) => _statistics = new Statistics(json, _time.GetUtcNow());

    // ---- Applied batches ----

    /// <summary>Every region applied the batch: end-to-end latency, per-partition commit times, throughput.</summary>
    public void OnApplied(SourceBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var now = _time.GetUtcNow();
        if (batch.CommitTimes.Count > 0)
        {
            var samples = new double[batch.CommitTimes.Count];
            for (var i = 0; i < samples.Length; i++)
            {
                // A commit time ahead of this clock is skew between hosts, not negative latency.
                samples[i] = Math.Max(0, (now - batch.CommitTimes[i]).TotalSeconds);
                _metrics.EndToEndSeconds.Record(samples[i]);
            }

            _endToEnd.AddRange(samples);
        }

        lock (_partitionsLock)
        {
            foreach (var progress in batch.Progress)
            {
                var key = new SourcePartition(progress.Source, progress.Partition);
                if (!_partitions.TryGetValue(key, out var state))
                {
                    _partitions[key] = state = new PartitionState();
                }

                // Batches in flight finish in any order: the furthest position applied so far.
                state.NextPosition = Math.Max(state.NextPosition ?? long.MinValue, progress.NextPosition);
                state.LastCommitTime = progress.LastCommitTime ?? state.LastCommitTime;
                state.LastAppliedAt = now;
            }
        }

        Interlocked.Add(ref _recordsApplied, batch.RecordCount);
        Interlocked.Increment(ref _batchesApplied);
        _throughput.Add(batch.RecordCount);
    }

    // ---- Regions ----

    /// <summary>A region applied a batch (after any retries): counts, deletes/s, and the region is no longer failing.</summary>
    public void RegionApplied(string region, long keysDeleted, long keysFound, TimeSpan duration)
    {
        Volatile.Write(ref _lastRegionActivity, _time.GetUtcNow().UtcTicks);
        Region(region)?.Applied(keysDeleted, keysFound, duration);
    }

    /// <summary>A region applied a second delete: how many names it deleted again, and how many of them it found cached again (hits).</summary>
    public void RegionSecondDeleted(string region, long keysDeleted, long keysFound)
    {
        Volatile.Write(ref _lastRegionActivity, _time.GetUtcNow().UtcTicks);
        Region(region)?.SecondDeleted(keysDeleted, keysFound);
    }

    // ---- Second deletes ----

    /// <summary>Keys and tags started waiting for their second delete (positive) or stopped waiting (negative).</summary>
    public void SecondDeletesPendingChanged(long delta) => Interlocked.Add(ref _secondDeletesPending, delta);

    /// <summary>Keys and tags whose second delete ran before its delay because the pending bound was reached.</summary>
    public void SecondDeletesRanEarly(long names) => Interlocked.Add(ref _secondDeletesEarly, names);

    /// <summary>A region could not apply a batch (retries exhausted, circuit open): its last error, and it is failing until the next success.</summary>
    public void RegionFailed(string region, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Volatile.Write(ref _lastRegionActivity, _time.GetUtcNow().UtcTicks);
        Region(region)?.Failed(exception.GetBaseException().Message);
    }

    /// <summary>The region's circuit breaker opened: <c>invalidator_region_circuit_open</c> becomes 1.</summary>
    public void CircuitOpened(string region) => Region(region)?.SetCircuit(CircuitState.Open);

    /// <summary>The breaker lets a trial through; the circuit still counts as open.</summary>
    public void CircuitHalfOpened(string region) => Region(region)?.SetCircuit(CircuitState.HalfOpen);

    /// <summary>The region's circuit breaker closed again: the gauge returns to 0.</summary>
    public void CircuitClosed(string region) => Region(region)?.SetCircuit(CircuitState.Closed);

    /// <summary>
    /// The region's deletes go to the dead-letter topic (<paramref name="active"/> true) or to Redis again
    /// (false). A region that deliberately dead-letters keeps the worker ready.
    /// </summary>
    public void RegionDeadLettering(string region, bool active) => Region(region)?.SetDeadLettering(active);

    /// <summary>
    /// The region's redrive is working on a letter that failed at <paramref name="oldest"/> (its oldest waiting letter),
    /// or null: nothing waits. The backlog's age is <c>invalidator_redrive_backlog_age_seconds</c> and, past
    /// <see cref="MaxRedriveAge"/>, makes the region not ready.
    /// </summary>
    public void RedriveBacklog(string region, DateTimeOffset? oldest, string? letter = null) => Region(region)?.SetRedriveBacklog(oldest, letter);

    // ---- Dead letters ----

    /// <summary>Something was written to the dead-letter topic; <paramref name="region"/> is empty for poison records.</summary>
    public void DeadLettered(string reason, string region, string summary)
    {
        Interlocked.Increment(ref _deadLetterTotal);
        lock (_deadLettersLock)
        {
            _deadLetters.Enqueue(new DeadLetterView(_time.GetUtcNow(), reason, region, summary));
            while (_deadLetters.Count > RecentDeadLetters)
            {
                _deadLetters.Dequeue();
            }
        }
    }

    // ---- Shadow plans ----

    /// <summary>A change was planned in shadow: counted for the status page, nothing deleted.</summary>
    public void ShadowPlanned(string table, int keys, int tags, string? example) =>
        _shadow.GetOrAdd(table, static _ => new ShadowState()).Add(keys, tags, example, _time.GetUtcNow());

    // ---- Decoding ----

    /// <summary>
    /// A delete of <paramref name="table"/> looked like REPLICA IDENTITY DEFAULT's (the key's columns and type defaults)
    /// and its rule does not state <c>replicaIdentity</c>. Only tables with a rule are reported, so this stays small.
    /// </summary>
    public void SuspectDefaultIdentity(string table) =>
        _suspectIdentity.GetOrAdd(table, static _ => new SuspectIdentityState()).Add(_time.GetUtcNow());

    // ---- Reads: status page, health checks, gauges ----

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

    internal IReadOnlyList<PartitionView> Partitions()
    {
        var now = _time.GetUtcNow();
        var offsets = ParsedStatistics();
        lock (_partitionsLock)
        {
            return _partitions
                .OrderBy(p => p.Key.Source, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Partition)
                .Select(p => new PartitionView(
                    p.Key.Source,
                    p.Key.Partition,
                    offsets?.GetValueOrDefault((p.Key.Source, p.Key.Partition)).LagMessages,
                    p.Value.LastCommitTime is { } committed ? Math.Max(0, (now - committed).TotalSeconds) : null,
                    p.Value.NextPosition,
                    p.Value.LastAppliedAt))
                .ToList();
        }
    }

    internal double? StatisticsAgeSeconds => _statistics is { } statistics ? (_time.GetUtcNow() - statistics.ReceivedAt).TotalSeconds : null;

    internal IReadOnlyList<RegionSnapshot> Regions() => _regions.Values.OrderBy(r => r.Name, StringComparer.Ordinal).Select(r => r.Snapshot()).ToList();

    internal (long Total, IReadOnlyList<DeadLetterView> Recent) DeadLetters()
    {
        lock (_deadLettersLock)
        {
            return (Interlocked.Read(ref _deadLetterTotal), _deadLetters.Reverse().ToList());
        }
    }

    private RegionState? Region(string region) => _regions.GetValueOrDefault(region);

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

    private IEnumerable<Measurement<long>> ConsumerLagMeasurements()
    {
        var offsets = ParsedStatistics();
        if (offsets is null)
        {
            return [];
        }

        lock (_partitionsLock)
        {
            // Only owned partitions: librdkafka keeps reporting revoked ones for a while.
            return _partitions.Keys
                .Where(p => offsets.TryGetValue((p.Source, p.Partition), out var o) && o.LagMessages is not null)
                .Select(p => new Measurement<long>(offsets[(p.Source, p.Partition)].LagMessages!.Value, PartitionTags(p)))
                .ToList();
        }
    }

    private IEnumerable<Measurement<double>> LagSecondsMeasurements()
    {
        var now = _time.GetUtcNow();
        lock (_partitionsLock)
        {
            return _partitions
                .Where(p => p.Value.LastCommitTime is not null)
                .Select(p => new Measurement<double>(Math.Max(0, (now - p.Value.LastCommitTime!.Value).TotalSeconds), PartitionTags(p.Key)))
                .ToList();
        }
    }

    private IEnumerable<Measurement<int>> CircuitMeasurements() =>
        _regions.Values.Select(r => new Measurement<int>(r.Circuit == CircuitState.Closed ? 0 : 1, new KeyValuePair<string, object?>("region", r.Name))).ToList();

    private IEnumerable<Measurement<double>> RedriveBacklogMeasurements()
    {
        var now = _time.GetUtcNow();
        return _regions.Values
            .Select(r => new Measurement<double>(r.RedriveOldest is { } oldest ? Math.Max(0, (now - oldest).TotalSeconds) : 0, new KeyValuePair<string, object?>("region", r.Name)))
            .ToList();
    }

    private static KeyValuePair<string, object?>[] PartitionTags(SourcePartition partition) =>
        [new("topic", partition.Source), new("partition", partition.Partition.ToString(CultureInfo.InvariantCulture))];

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
        public long? NextPosition { get; set; }

        public DateTimeOffset? LastCommitTime { get; set; }

        public DateTimeOffset? LastAppliedAt { get; set; }
    }

    private sealed class RegionState(string name, TimeProvider time)
    {
        private readonly Lock _lock = new();
        private readonly RateWindow _deletes = new(time);
        private long _keysDeleted;
        private long _keysFound;
        private long _secondDeletes;
        private long _secondDeleteHits;
        private DateTimeOffset? _lastAppliedAt;
        private TimeSpan? _lastDuration;
        private string? _lastError;
        private DateTimeOffset? _lastErrorAt;
        private bool _failing;
        private bool _deadLettering;
        private DateTimeOffset? _redriveOldest;
        private string? _redriveLetter;
        private volatile CircuitState _circuit;

        public string Name { get; } = name;

        public DateTimeOffset? RedriveOldest
        {
            get
            {
                lock (_lock)
                {
                    return _redriveOldest;
                }
            }
        }

        public void SetRedriveBacklog(DateTimeOffset? oldest, string? letter)
        {
            lock (_lock)
            {
                _redriveOldest = oldest;
                _redriveLetter = oldest is null ? null : letter;
            }
        }

        public CircuitState Circuit => _circuit;

        public void Applied(long keysDeleted, long keysFound, TimeSpan duration)
        {
            _deletes.Add(keysDeleted);
            lock (_lock)
            {
                _keysDeleted += keysDeleted;
                _keysFound += keysFound;
                _lastAppliedAt = time.GetUtcNow();
                _lastDuration = duration;
                _failing = false;
            }
        }

        public void SecondDeleted(long keysDeleted, long keysFound)
        {
            lock (_lock)
            {
                _secondDeletes += keysDeleted;
                _secondDeleteHits += keysFound;
                _failing = false;
            }
        }

        public void Failed(string error)
        {
            lock (_lock)
            {
                _lastError = error;
                _lastErrorAt = time.GetUtcNow();
                _failing = true;
            }
        }

        public void SetCircuit(CircuitState state) => _circuit = state;

        public void SetDeadLettering(bool active)
        {
            lock (_lock)
            {
                _deadLettering = active;
            }
        }

        public RegionSnapshot Snapshot()
        {
            lock (_lock)
            {
                return new RegionSnapshot(
                    Name, _circuit, _deadLettering, _failing, _keysDeleted, _keysFound, _deletes.PerSecond(),
                    _lastAppliedAt, _lastDuration?.TotalSeconds, _lastError, _lastErrorAt, _secondDeletes, _secondDeleteHits)
                {
                    RedriveOldest = _redriveOldest,
                    RedriveLetter = _redriveLetter,
                };
            }
        }
    }
}

internal enum CircuitState
{
    Closed,
    Open,
    HalfOpen,
}

/// <summary>One region as the status object knows it (connectivity is added by the reader).</summary>
internal sealed record RegionSnapshot(
    string Name,
    CircuitState Circuit,
    bool DeadLettering,
    bool Failing,
    long KeysDeleted,
    long KeysFound,
    double DeletesPerSecond,
    DateTimeOffset? LastAppliedAt,
    double? LastBatchSeconds,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    long SecondDeletes,
    long SecondDeleteHits)
{
    /// <summary>When the oldest letter the region's redrive is working on failed; null when none waits.</summary>
    public DateTimeOffset? RedriveOldest { get; init; }

    /// <summary>Where that letter is in the store.</summary>
    public string? RedriveLetter { get; init; }
}

/// <summary>One owned partition on the status page.</summary>
internal sealed record PartitionView(string Source, int Partition, long? LagMessages, double? LagSeconds, long? NextPosition, DateTimeOffset? LastAppliedAt);

/// <summary>One table's shadow plans since the start: what would have been deleted.</summary>
internal sealed record ShadowTableView(string Table, long Records, long Keys, long Tags, string? LastExample, DateTimeOffset? LastAt);

/// <summary>
/// A table whose deletes looked like REPLICA IDENTITY DEFAULT's (before images of the key's columns and type defaults)
/// while its rule does not state <c>replicaIdentity</c>: how many, when last, and the fix.
/// </summary>
internal sealed record SuspectIdentityView(string Table, long Deletes, DateTimeOffset LastAt, string Fix);

/// <summary>One recent dead letter on the status page.</summary>
internal sealed record DeadLetterView(DateTimeOffset At, string Reason, string Region, string Summary);
