using Invalidator.Worker.Events;
using NpgsqlTypes;

namespace Invalidator.Worker.Diagnostics;

/// <summary>One read replica on the status page: its last poll and the waits that gave up on it.</summary>
internal sealed class ReplicaState
{
    private readonly Lock _lock = new();
    private ReplicaPolled? _last;
    private long _waitsExpired;

    public void Polled(in ReplicaPolled e)
    {
        lock (_lock)
        {
            _last = e;
        }
    }

    public void Expired() => Interlocked.Increment(ref _waitsExpired);

    public ReplicaView View(string name)
    {
        ReplicaPolled? last;
        lock (_lock)
        {
            last = _last;
        }

        return new ReplicaView(
            name,
            last is { Error: null },
            last?.LagSeconds,
            last?.ReplayedLsn is { } lsn ? new NpgsqlLogSequenceNumber(lsn).ToString() : null,
            last?.At,
            last?.Error,
            Interlocked.Read(ref _waitsExpired));
    }
}

/// <summary>
/// A read replica on the status page (<c>/status.json</c> <c>replicas</c>): whether its last poll answered, its replay lag
/// in seconds, the position it had replayed (<c>X/X</c>, as Postgres writes it), when it was polled, why it did not
/// answer, and how many waits for it reached <c>Invalidator:Consistency:ReplicaWaitMax</c>.
/// </summary>
internal sealed record ReplicaView(string Name, bool Reachable, double? LagSeconds, string? ReplayedLsn, DateTimeOffset? PolledAt, string? Error, long WaitsExpired);
