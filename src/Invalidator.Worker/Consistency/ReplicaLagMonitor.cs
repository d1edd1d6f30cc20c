using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// How far each read replica (<c>Invalidator:Consistency:ReadReplicas</c>) has replayed the primary's WAL, and a wait
/// for all of them to reach a position. Each replica is polled by one loop, one query per interval
/// (<c>pg_last_wal_replay_lsn()</c>), whatever the number of waiters: often while someone waits, slowly otherwise
/// (for the lag gauge and the status page). A wait ends when every replica has replayed the position or when
/// <c>Invalidator:Consistency:ReplicaWaitMax</c> has passed; each replica that had not is counted as expired.
/// </summary>
internal sealed class ReplicaLagMonitor : IAsyncDisposable
{
    /// <summary>Poll interval while a wait is pending: a replica's progress is seen this late at most.</summary>
    public static readonly TimeSpan WaitingPollInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>Poll interval while nothing waits: enough for the lag gauge and the status page.</summary>
    public static readonly TimeSpan IdlePollInterval = TimeSpan.FromSeconds(1);

    private readonly ReplicaPoller[] _replicas;
    private readonly TimeSpan _waitMax;
    private readonly WorkerEvents _events;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task[] _loops = [];

    public ReplicaLagMonitor(
        IReadOnlyDictionary<string, string> replicas, TimeSpan waitMax, WorkerEvents events, ILogger logger, TimeProvider time,
        TimeSpan? waitingPollInterval = null, TimeSpan? idlePollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        _waitMax = waitMax;
        _events = events;
        _time = time;
        _replicas = [.. replicas.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => new ReplicaPoller(
            r.Key, r.Value, events, logger, time, waitMax, waitingPollInterval ?? WaitingPollInterval, idlePollInterval ?? IdlePollInterval))];
    }

    /// <summary>The replicas' names (ordinal order).</summary>
    public IEnumerable<string> Replicas => _replicas.Select(r => r.Name);

    /// <summary>Starts polling each replica. Called once.</summary>
    public void Start()
    {
        foreach (var replica in _replicas)
        {
            _events.Publish(new ReplicaWatched(replica.Name));
        }

        _loops = [.. _replicas.Select(r => Task.Run(() => r.RunAsync(_stop.Token)))];
    }

    /// <summary>The position <paramref name="replica"/> has replayed as last polled (null before it first answered).</summary>
    public ulong? Replayed(string replica) => _replicas.First(r => r.Name == replica).Replayed;

    /// <summary>
    /// Completes when every replica has replayed <paramref name="lsn"/> (its <c>pg_last_wal_replay_lsn()</c> is at or
    /// past it), or when <c>ReplicaWaitMax</c> has passed: then it returns the replicas that had not (each counted in
    /// <c>invalidator_replica_waits_expired_total{replica}</c>). Empty when all of them replayed it.
    /// </summary>
    /// <param name="within">How long it may wait (default <c>ReplicaWaitMax</c>; less when part of the bound went on finding the position).</param>
    public async ValueTask<IReadOnlyList<string>> WaitForReplayAsync(ulong lsn, CancellationToken cancellationToken, TimeSpan? within = null)
    {
        List<(ReplicaPoller Replica, ReplicaPoller.Waiter Waiter)>? pending = null;
        foreach (var replica in _replicas)
        {
            if (replica.Register(lsn) is { } waiter)
            {
                (pending ??= []).Add((replica, waiter));
            }
        }

        if (pending is null)
        {
            foreach (var replica in _replicas)
            {
                replica.Succeeded();
            }

            return [];
        }

        try
        {
            var bound = within is { } left ? (left < TimeSpan.Zero ? TimeSpan.Zero : left) : _waitMax;
            await Task.WhenAll(pending.Select(p => p.Waiter.Task)).WaitAsync(bound, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // ReplicaWaitMax: the replicas that have not replayed it are not waited for any more.
        }
        finally
        {
            foreach (var (_, waiter) in pending)
            {
                waiter.Abandon();
            }
        }

        List<string>? expired = null;
        foreach (var replica in _replicas)
        {
            if (pending.Find(p => p.Replica == replica) is { Waiter: { } waiter } && !waiter.Task.IsCompletedSuccessfully)
            {
                (expired ??= []).Add(replica.Name);
                replica.Expired();
            }
            else
            {
                replica.Succeeded();
            }
        }

        return expired ?? [];
    }

    /// <summary>
    /// The position to wait for could not be found within the bound (the primary did not answer): every replica's
    /// wait counts as expired. Returns the replicas' names.
    /// </summary>
    public IReadOnlyList<string> ExpireAll()
    {
        foreach (var replica in _replicas)
        {
            replica.Expired();
        }

        return [.. Replicas];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    /// <summary>Reads <c>pg_lsn</c> as the 64-bit position it is.</summary>
    internal static ulong ToUInt64(NpgsqlLogSequenceNumber lsn) => (ulong)lsn;

    /// <summary>One replica's poll loop and the waits registered on it.</summary>
    private sealed class ReplicaPoller : IAsyncDisposable
    {
        // Replay lag: 0 when the replica has replayed all it received (an idle primary is no lag), else the age of the
        // last transaction it replayed. The position is null on a server that is not in recovery.
        private const string Query =
            """
            SELECT pg_last_wal_replay_lsn(),
                   CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8, 0) END
            """;

        private readonly NpgsqlDataSource _dataSource;
        private readonly WorkerEvents _events;
        private readonly ILogger _logger;
        private readonly TimeProvider _time;
        private readonly TimeSpan _waitMax;
        private readonly TimeSpan _waitingInterval;
        private readonly TimeSpan _idleInterval;
        private readonly Lock _lock = new();
        private readonly PriorityQueue<Waiter, ulong> _waiters = new();
        private readonly SemaphoreSlim _wake = new(0, 1);
        private long _replayed = -1; // unsigned bits; -1 (ulong.MaxValue) before the first answer is never a real position
        private bool _unreachable;
        private int _expiring;
        private double _lastLag;
        private DateTimeOffset? _lastAnswer;

        public ReplicaPoller(string name, string connectionString, WorkerEvents events, ILogger logger, TimeProvider time,
            TimeSpan waitMax, TimeSpan waitingInterval, TimeSpan idleInterval)
        {
            Name = name;
            _dataSource = new NpgsqlDataSourceBuilder(connectionString) { Name = $"invalidator-replica-{name}" }.Build();
            _events = events;
            _logger = logger;
            _time = time;
            _waitMax = waitMax;
            _waitingInterval = waitingInterval;
            _idleInterval = idleInterval;
        }

        public string Name { get; }

        public ulong? Replayed => Interlocked.Read(ref _replayed) is var bits && bits == -1 ? null : (ulong)bits;

        /// <summary>A waiter for <paramref name="lsn"/>, or null when the replica has replayed it already.</summary>
        public Waiter? Register(ulong lsn)
        {
            if (Replayed is { } replayed && replayed >= lsn)
            {
                return null;
            }

            var waiter = new Waiter(lsn);
            lock (_lock)
            {
                _waiters.Enqueue(waiter, lsn);
            }

            // Poll now rather than at the end of an idle interval.
            if (_wake.CurrentCount == 0)
            {
                try
                {
                    _wake.Release();
                }
                catch (SemaphoreFullException)
                {
                    // Another waiter woke it already.
                }
            }

            return waiter;
        }

        /// <summary>A wait reached the bound without this replica: counted; logged once until a wait succeeds again.</summary>
        public void Expired()
        {
            _events.Publish(new ReplicaWaitExpired(Name));
            if (Interlocked.Exchange(ref _expiring, 1) == 0)
            {
                Log.ReplicaWaitsExpiring(_logger, Name, _waitMax);
            }
        }

        public void Succeeded() => Volatile.Write(ref _expiring, 0);

        public async Task RunAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                await PollAsync(stop).ConfigureAwait(false);
                bool waiting;
                lock (_lock)
                {
                    waiting = _waiters.Count > 0;
                }

                try
                {
                    if (waiting)
                    {
                        await Task.Delay(_waitingInterval, _time, stop).ConfigureAwait(false);
                    }
                    else
                    {
                        await _wake.WaitAsync(_idleInterval, stop).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        }

        private async Task PollAsync(CancellationToken stop)
        {
            ulong? replayed = null;
            double lag;
            string? error = null;
            try
            {
                (replayed, lag) = await QueryAsync(stop).ConfigureAwait(false);
                if (replayed is null)
                {
                    error = "it is not a standby (pg_last_wal_replay_lsn() is null): point Invalidator:Consistency:ReadReplicas at the replicas, not the primary";
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
            {
                error = Sources.Postgres.PostgresCredentials.DescribeConnectFailure(ex);
                lag = 0;
            }

            var now = _time.GetUtcNow();
            if (replayed is { } position)
            {
                Interlocked.Exchange(ref _replayed, (long)position);
                _lastAnswer = now;
                _lastLag = lag;
                if (_unreachable)
                {
                    _unreachable = false;
                    Log.ReplicaBack(_logger, Name, new NpgsqlLogSequenceNumber(position).ToString());
                }

                Release(position);
            }
            else
            {
                DropAbandoned();
                // Unknown while it does not answer: the lag last seen grows with the time since.
                lag = _lastLag + (_lastAnswer is { } last ? (now - last).TotalSeconds : 0);
                if (!_unreachable)
                {
                    _unreachable = true;
                    Log.ReplicaUnreachable(_logger, Name, LogText.Escape(error!));
                }
            }

            _events.Publish(new ReplicaPolled(Name, replayed, lag, error, now));
        }

        private async Task<(ulong? Replayed, double Lag)> QueryAsync(CancellationToken stop)
        {
            var connection = await _dataSource.OpenConnectionAsync(stop).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var command = new NpgsqlCommand(Query, connection);
                await using (command.ConfigureAwait(false))
                {
                    var reader = await command.ExecuteReaderAsync(stop).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        await reader.ReadAsync(stop).ConfigureAwait(false);
                        return (reader.IsDBNull(0) ? null : ToUInt64(reader.GetFieldValue<NpgsqlLogSequenceNumber>(0)), reader.GetDouble(1));
                    }
                }
            }
        }

        /// <summary>Completes the waits this position satisfies, and drops the ones that ended without it.</summary>
        private void Release(ulong replayed)
        {
            lock (_lock)
            {
                while (_waiters.TryPeek(out var waiter, out var lsn) && (lsn <= replayed || waiter.Abandoned))
                {
                    _waiters.Dequeue();
                    waiter.Complete();
                }

                // Waiters further back that ended are dropped when they reach the head, or while the replica is down.
            }
        }

        /// <summary>While the replica does not answer, the waits that gave up on it would pile up: drop them.</summary>
        private void DropAbandoned()
        {
            lock (_lock)
            {
                if (_waiters.UnorderedItems.Any(w => w.Element.Abandoned))
                {
                    var live = _waiters.UnorderedItems.Where(w => !w.Element.Abandoned).ToArray();
                    _waiters.Clear();
                    _waiters.EnqueueRange(live);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _wake.Dispose();
        }

        /// <summary>One wait's share on one replica.</summary>
        internal sealed class Waiter(ulong lsn)
        {
            private readonly TaskCompletionSource _replayed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            private volatile bool _abandoned;

            public ulong Lsn { get; } = lsn;

            public Task Task => _replayed.Task;

            public bool Abandoned => _abandoned;

            public void Complete() => _replayed.TrySetResult();

            public void Abandon() => _abandoned = true;
        }
    }
}
