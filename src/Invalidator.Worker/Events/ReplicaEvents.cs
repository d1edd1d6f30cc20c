namespace Invalidator.Worker.Events;

// The read replicas the worker waits for (Consistency/ReplicaLagMonitor): once per replica at start, once per poll,
// and once per replica a wait gave up on.

/// <summary>The worker watches <paramref name="Replica"/> (<c>Invalidator:Consistency:ReadReplicas:&lt;name&gt;</c>): its series start at 0.</summary>
internal readonly record struct ReplicaWatched(string Replica);

/// <summary>
/// One poll of a replica, at <paramref name="At"/>: the position it has replayed (when it answered), its replay lag in
/// seconds (0 when it has replayed all it received; while it does not answer, the last lag plus the time since),
/// and why it did not answer.
/// </summary>
internal readonly record struct ReplicaPolled(string Replica, ulong? ReplayedLsn, double LagSeconds, string? Error, DateTimeOffset At);

/// <summary>A wait for <paramref name="Replica"/> reached <c>Invalidator:Consistency:ReplicaWaitMax</c> before the replica replayed the position.</summary>
internal readonly record struct ReplicaWaitExpired(string Replica);
