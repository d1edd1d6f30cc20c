using Invalidator.Client;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Invalidator.RaceHarness;

/// <summary>
/// One way of closing (or not) the set-after-delete race: what the worker is told (rule fields, settings), how readers
/// populate, and what the worker itself reports. A new mode is one more subclass: the delayed second delete, for
/// example, adds <c>secondDelete: 800ms</c> to the rule, keeps the plain reader, and reads
/// <c>invalidator_second_delete_hits</c> from the worker's counters in <see cref="SecondDeleteHits"/>.
/// </summary>
public abstract class RaceMode
{
    private static readonly Dictionary<string, string?> NoSettings = [];

    /// <summary>The second delete's delay in <see cref="SecondDelete"/>: longer than the readers' longest pause (declared first: statics initialize in order).</summary>
    public static TimeSpan SecondDeleteDelay { get; } = TimeSpan.FromMilliseconds(800);

    /// <summary>The worker deletes; readers GET, load, pause, SET.</summary>
    public static RaceMode PlainDelete { get; } = new PlainDeleteMode();

    /// <summary>The rule says <c>leases: true</c>; readers go through <see cref="LeasedCache"/>.</summary>
    public static RaceMode Leases { get; } = new LeaseMode();

    /// <summary>
    /// The rule says <c>secondDelete: 800ms</c>, longer than the readers' longest pause (the tests' 150 ms, the
    /// benchmark's 100 ms); readers are plain, so nothing refuses a late populate, but the second delete removes it.
    /// </summary>
    public static RaceMode SecondDelete { get; } = new SecondDeleteMode(SecondDeleteDelay);

    /// <summary>The second delete with another delay (one shorter than the readers' pause leaves stale keys again).</summary>
    public static RaceMode SecondDeleteAfter(TimeSpan delay) => new SecondDeleteMode(delay);

    /// <summary>Both defences: leases (readers through <see cref="LeasedCache"/>) and <c>secondDelete: 800ms</c>.</summary>
    public static RaceMode LeasesAndSecondDelete { get; } = new BothMode(TimeSpan.FromMilliseconds(800));

    /// <summary>
    /// The rule says <c>waitForReplicas: true</c> (the keys are deleted again once every read replica replayed the
    /// change), with leases or with a second delete of <paramref name="secondDelete"/> counted from then, or neither (the
    /// replica delete alone). The worker's replicas are the run's settings (<c>Invalidator:Consistency:ReadReplicas</c>).
    /// </summary>
    public static RaceMode WaitForReplicas(bool leases, TimeSpan? secondDelete = null) => new ReplicaWaitMode(leases, secondDelete);

    /// <summary>The name in reports.</summary>
    public abstract string Name { get; }

    /// <summary>Extra fields of the race table's rule, one YAML line each (for example <c>leases: true</c>).</summary>
    public virtual IReadOnlyList<string> RuleFields => [];

    /// <summary>Worker settings the mode needs, over the run's own.</summary>
    public virtual IReadOnlyDictionary<string, string?> WorkerSettings => NoSettings;

    /// <summary>The readers' populate path for one run (shared by every reader task).</summary>
    public abstract RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl);

    /// <summary>Populates a second delete found and removed, from the worker's counters; null where the mode has no second delete.</summary>
    public virtual long? SecondDeleteHits(CounterTotals workerCounters) => null;

    /// <summary>Keys the replica delete found cached again, from the worker's counters; null where the mode does not wait for replicas.</summary>
    public virtual long? ReplicaDeleteHits(CounterTotals workerCounters) => null;

    public override string ToString() => Name;

    private sealed class PlainDeleteMode : RaceMode
    {
        public override string Name => "plain delete";

        public override RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl) => new PlainReader(redis, keyPrefix, ttl);
    }

    private sealed class SecondDeleteMode : RaceMode
    {
        private readonly long _milliseconds;

        public SecondDeleteMode(TimeSpan delay)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.FromMilliseconds(1));
            _milliseconds = (long)delay.TotalMilliseconds;
        }

        public override string Name => $"delete + second delete ({_milliseconds} ms)";

        public override IReadOnlyList<string> RuleFields => [$"secondDelete: {_milliseconds}ms"];

        public override RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl) => new PlainReader(redis, keyPrefix, ttl);

        public override long? SecondDeleteHits(CounterTotals workerCounters)
        {
            ArgumentNullException.ThrowIfNull(workerCounters);
            return workerCounters["invalidator_second_delete_hits"];
        }
    }

    private sealed class BothMode(TimeSpan delay) : RaceMode
    {
        private readonly long _milliseconds = (long)delay.TotalMilliseconds;

        public override string Name => $"leases + second delete ({_milliseconds} ms)";

        public override IReadOnlyList<string> RuleFields => ["leases: true", $"secondDelete: {_milliseconds}ms"];

        public override RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl) => new LeaseReader(redis, keyPrefix, ttl);

        public override long? SecondDeleteHits(CounterTotals workerCounters)
        {
            ArgumentNullException.ThrowIfNull(workerCounters);
            return workerCounters["invalidator_second_delete_hits"];
        }
    }

    private sealed class ReplicaWaitMode(bool leases, TimeSpan? secondDelete) : RaceMode
    {
        public override string Name =>
            "waitForReplicas" + (leases ? " + leases" : "") + (secondDelete is { } delay ? $" + second delete ({(long)delay.TotalMilliseconds} ms)" : "");

        public override IReadOnlyList<string> RuleFields =>
        [
            "waitForReplicas: true",
            .. leases ? ["leases: true"] : Array.Empty<string>(),
            .. secondDelete is { } delay ? [$"secondDelete: {(long)delay.TotalMilliseconds}ms"] : Array.Empty<string>(),
        ];

        public override RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl) =>
            leases ? new LeaseReader(redis, keyPrefix, ttl) : new PlainReader(redis, keyPrefix, ttl);

        public override long? SecondDeleteHits(CounterTotals workerCounters) =>
            secondDelete is null ? null : (workerCounters ?? throw new ArgumentNullException(nameof(workerCounters)))["invalidator_second_delete_hits"];

        public override long? ReplicaDeleteHits(CounterTotals workerCounters)
        {
            ArgumentNullException.ThrowIfNull(workerCounters);
            return workerCounters["invalidator_replica_delete_hits"];
        }
    }

    private sealed class LeaseMode : RaceMode
    {
        public override string Name => "leases (Invalidator.Client)";

        public override IReadOnlyList<string> RuleFields => ["leases: true"];

        public override RaceReader CreateReader(IDatabase redis, string keyPrefix, TimeSpan ttl) => new LeaseReader(redis, keyPrefix, ttl);
    }
}

/// <summary>What readers did with their loads.</summary>
public readonly record struct PopulateCounts(long Stored, long Refused, long LeaseWaits, long LoadsWithoutPopulate);

/// <summary>A reader's cache-aside read: on a miss it calls the load (database read, then the injected pause) and populates.</summary>
public abstract class RaceReader : IDisposable
{
    /// <summary>Reads <paramref name="key"/> (without prefix); calls <paramref name="load"/> on a miss.</summary>
    public abstract Task ReadAsync(string key, Func<CancellationToken, Task<string?>> load, CancellationToken cancellationToken);

    public abstract PopulateCounts Counts { get; }

    public virtual void Dispose()
    {
    }
}

/// <summary>Classic cache-aside: GET, and on a miss load and SET with the TTL. Nothing stops a late SET.</summary>
internal sealed class PlainReader(IDatabase redis, string keyPrefix, TimeSpan ttl) : RaceReader
{
    private long _stored;

    public override PopulateCounts Counts => new(Interlocked.Read(ref _stored), 0, 0, 0);

    public override async Task ReadAsync(string key, Func<CancellationToken, Task<string?>> load, CancellationToken cancellationToken)
    {
        if (!(await redis.StringGetAsync(keyPrefix + key).ConfigureAwait(false)).IsNull)
        {
            return;
        }

        if (await load(cancellationToken).ConfigureAwait(false) is { } value)
        {
            await redis.StringSetAsync(keyPrefix + key, value, ttl).ConfigureAwait(false);
            Interlocked.Increment(ref _stored);
        }
    }
}

/// <summary>Reads through <see cref="LeasedCache"/>; its own counters say what the guarded populates did.</summary>
internal sealed class LeaseReader : RaceReader
{
    private readonly ServiceProvider _meters;
    private readonly CounterTotals _counters;
    private readonly LeasedCache _cache;
    private readonly TimeSpan _ttl;

    public LeaseReader(IDatabase redis, string keyPrefix, TimeSpan ttl)
    {
        _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = _meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _counters = new CounterTotals(factory);
        _cache = new LeasedCache(redis, new LeasedCacheOptions { KeyPrefix = keyPrefix }, factory);
        _ttl = ttl;
    }

    public override PopulateCounts Counts => new(
        _counters["invalidator_client_populates_stored"],
        _counters["invalidator_client_populates_refused"],
        _counters["invalidator_client_lease_waits"],
        _counters["invalidator_client_loads_without_populate"]);

    public override Task ReadAsync(string key, Func<CancellationToken, Task<string?>> load, CancellationToken cancellationToken) =>
        _cache.GetOrLoadAsync(key, load, _ttl, tags: null, cancellationToken);

    public override void Dispose()
    {
        _cache.Dispose();
        _counters.Dispose();
        _meters.Dispose();
        base.Dispose();
    }
}
