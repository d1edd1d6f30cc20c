using Invalidator.Core.Planning;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// The worker's wait for its read replicas (<c>Invalidator:Consistency:ReadReplicas</c>): which names of a batch wait
/// (a rule's <c>waitForReplicas: true</c>, or every table with <c>Invalidator:Consistency:WaitForReplicas</c>), the
/// position they wait for, and the wait itself (<see cref="ReplicaLagMonitor"/>), bounded by <c>ReplicaWaitMax</c>.
/// Off (<see cref="IsOn"/> false) when no replica is configured. A hosted service: the replicas are polled from the
/// start, for the lag gauge and the status page.
/// </summary>
internal sealed class ReplicaWait : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan PrimaryRetryDelay = TimeSpan.FromMilliseconds(200);

    private readonly ReplicaLagMonitor? _monitor;
    private readonly PrimaryWalPosition? _primary;
    private readonly bool _allTables;
    private readonly TimeSpan _waitMax;
    private readonly long _maxPending;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private long _pending;
    private TaskCompletionSource? _room;
    private int _primaryFailing;
    private int _disposed;

    public ReplicaWait(IOptions<InvalidatorOptions> options, WorkerEvents events, ILogger<ReplicaWait> logger, TimeProvider time)
        : this(options?.Value ?? throw new ArgumentNullException(nameof(options)), events, logger, time)
    {
    }

    internal ReplicaWait(InvalidatorOptions options, WorkerEvents events, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        var consistency = options.Consistency;
        _allTables = consistency.WaitForReplicas;
        _waitMax = consistency.ReplicaWaitMax;
        _maxPending = consistency.SecondDeleteMaxPending;
        _time = time;
        _logger = logger;
        if (consistency.ReadReplicas.Count == 0)
        {
            return;
        }

        _monitor = new ReplicaLagMonitor(consistency.ReadReplicas, _waitMax, events, logger, time);
        // Kafka mode reads the position from the primary; direct mode knows each transaction's end, and asks its own
        // database only for a batch whose transaction's end never came.
        var primary = !string.IsNullOrWhiteSpace(consistency.Primary) ? consistency.Primary
            : options.Source == ChangeSourceKind.Postgres ? options.Postgres.ConnectionString : "";
        _primary = string.IsNullOrWhiteSpace(primary) ? null : new PrimaryWalPosition(primary, time);
    }

    /// <summary>Whether any replica is configured: without one, no name waits.</summary>
    public bool IsOn => _monitor is not null;

    /// <summary>
    /// Whether the names waiting for the replicas leave room for another batch: they hold their batch in memory, so at
    /// most <c>Invalidator:Consistency:SecondDeleteMaxPending</c> wait (the bound the second delete's names share).
    /// </summary>
    public bool HasRoom => Interlocked.Read(ref _pending) < _maxPending;

    /// <summary>The names of <paramref name="invalidations"/> that wait for the replicas, or null when none does.</summary>
    public ReplicaWaitNames? NamesOf(InvalidationBatch invalidations)
    {
        ArgumentNullException.ThrowIfNull(invalidations);
        if (!IsOn || invalidations.IsEmpty)
        {
            return null;
        }

        return _allTables ? ReplicaWaitNames.Every : invalidations.ReplicaWaits is { } names ? new ReplicaWaitNames(names) : null;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _monitor?.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Names start waiting (counted against the bound).</summary>
    public void Hold(int names) => Interlocked.Add(ref _pending, names);

    /// <summary>Names stopped waiting: a submit waiting for room may go on.</summary>
    public void Release(int names)
    {
        Interlocked.Add(ref _pending, -names);
        TaskCompletionSource? room;
        lock (_lock)
        {
            (room, _room) = (_room, null);
        }

        room?.TrySetResult();
    }

    /// <summary>Completes when names were released (look at <see cref="HasRoom"/> again).</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (HasRoom)
            {
                return Task.CompletedTask;
            }

            return (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Waits until every replica has replayed <paramref name="position"/> (when null: the primary's position read after
    /// <paramref name="cutAt"/>, a <see cref="TimeProvider.GetTimestamp"/>), or until <c>ReplicaWaitMax</c> has passed.
    /// Returns the replicas that had not (each counted in <c>invalidator_replica_waits_expired_total</c>).
    /// </summary>
    public async Task<IReadOnlyList<string>> WaitAsync(ulong? position, long cutAt, CancellationToken cancellationToken)
    {
        var monitor = _monitor ?? throw new InvalidOperationException("No read replica is configured.");
        var started = _time.GetTimestamp();
        var lsn = position ?? await PrimaryPositionAsync(cutAt, started, cancellationToken).ConfigureAwait(false);
        if (lsn is not { } target)
        {
            return monitor.ExpireAll();
        }

        return await monitor.WaitForReplayAsync(target, cancellationToken, _waitMax - _time.GetElapsedTime(started)).ConfigureAwait(false);
    }

    /// <summary>Once (the host disposes it as a singleton and as a hosted service).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_monitor is not null)
        {
            await _monitor.DisposeAsync().ConfigureAwait(false);
        }

        if (_primary is not null)
        {
            await _primary.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The primary's position after <paramref name="cutAt"/>, retried while it fails; null once the bound passed.</summary>
    private async Task<ulong?> PrimaryPositionAsync(long cutAt, long started, CancellationToken cancellationToken)
    {
        if (_primary is null)
        {
            return null;
        }

        while (_time.GetElapsedTime(started) is var spent && spent < _waitMax)
        {
            try
            {
                var lsn = await _primary.ReadSinceAsync(cutAt, cancellationToken).AsTask().WaitAsync(_waitMax - spent, _time, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _primaryFailing, 0);
                return lsn;
            }
            catch (TimeoutException)
            {
                return null;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
            {
                if (Interlocked.Exchange(ref _primaryFailing, 1) == 0)
                {
                    Log.PrimaryPositionUnreadable(_logger, LogText.Escape(Sources.Postgres.PostgresCredentials.DescribeConnectFailure(ex)));
                }

                var left = _waitMax - _time.GetElapsedTime(started);
                await Task.Delay(left < PrimaryRetryDelay ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : PrimaryRetryDelay, _time, cancellationToken).ConfigureAwait(false);
            }
        }

        return null;
    }
}

/// <summary>The names of a batch that wait for the read replicas: every name (<see cref="Every"/>), or those of the rules that say so.</summary>
internal sealed class ReplicaWaitNames
{
    public static readonly ReplicaWaitNames Every = new(null);

    private readonly InvalidationNames? _names;

    public ReplicaWaitNames(InvalidationNames? names) => _names = names;

    /// <summary>Whether every name of the batch waits.</summary>
    public bool IsEvery => _names is null;

    public bool HasKey(string key) => _names is null || _names.Keys.Contains(key);

    public bool HasTag(string tag) => _names is null || _names.Tags.Contains(tag);

    /// <summary>How many keys and tags of <paramref name="invalidations"/> wait.</summary>
    public int Count(InvalidationBatch invalidations) =>
        _names?.Count ?? invalidations.Keys.Count + invalidations.Tags.Count;

    /// <summary>The waiting names, each with its lease mark from <paramref name="invalidations"/>: what the replica delete deletes.</summary>
    public InvalidationBatch ToBatch(InvalidationBatch invalidations)
    {
        ArgumentNullException.ThrowIfNull(invalidations);
        var batch = new InvalidationBatch();
        batch.AddWithLeaseMarks(invalidations, _names?.Keys ?? (IEnumerable<string>)invalidations.Keys, _names?.Tags ?? (IEnumerable<string>)invalidations.Tags);
        return batch;
    }
}
