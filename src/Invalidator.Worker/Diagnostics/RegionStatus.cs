namespace Invalidator.Worker.Diagnostics;

/// <summary>One region as the status knows it from the events: what it applied, its last error, its circuit and its redrive.</summary>
internal sealed class RegionStatus(string name, TimeProvider time)
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

    /// <summary>Applied (a first delete): its deletes reach the cache again, so it is neither failing nor dead-lettering.</summary>
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
            _deadLettering = false;
        }
    }

    /// <summary>A later delete (the replica delete) applied: the region is no longer failing.</summary>
    public void Succeeded()
    {
        lock (_lock)
        {
            _failing = false;
            _deadLettering = false;
        }
    }

    public void SecondDeleted(long keysDeleted, long keysFound)
    {
        lock (_lock)
        {
            _secondDeletes += keysDeleted;
            _secondDeleteHits += keysFound;
            _failing = false;
            _deadLettering = false;
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

    public void DeadLetteringStarted()
    {
        lock (_lock)
        {
            _deadLettering = true;
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

    /// <summary>How old the redrive's oldest waiting letter is at <paramref name="now"/> (never negative); null when none waits.</summary>
    public TimeSpan? RedriveAge(DateTimeOffset now) => RedriveOldest is { } oldest ? TimeSpan.FromTicks(Math.Max(0, (now - oldest).Ticks)) : null;
}
