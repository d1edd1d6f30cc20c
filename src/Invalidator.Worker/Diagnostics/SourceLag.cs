namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// <c>invalidator_lag_seconds</c>: how long the oldest change that waits has waited, 0 when nothing waits. A change
/// waits from its commit until its batch is applied in every region (or durably dead-lettered). What is read but not
/// applied gives its own commit time; what is not read yet (Kafka's message lag) has none the worker knows, so it is
/// bounded by the newest applied commit (everything after it is younger).
/// </summary>
internal static class SourceLag
{
    /// <summary>
    /// Kafka's committed offsets and statistics trail the applied position (auto-commit every second, statistics every
    /// five): a message lag is believed only when the statistics came this long after the last applied batch.
    /// </summary>
    public static readonly TimeSpan StatisticsSettle = TimeSpan.FromSeconds(2);

    /// <param name="now">The clock.</param>
    /// <param name="oldestUnapplied">Commit time of the oldest change read and not applied yet (or, without one, when its batch was cut); null when none.</param>
    /// <param name="unreadWaiting">Whether changes wait that the worker has not read (Kafka's message lag).</param>
    /// <param name="lastAppliedCommit">Commit time of the newest applied change, when known.</param>
    /// <returns>Seconds; null only when unread changes wait and nothing applied tells their age.</returns>
    public static double? Seconds(DateTimeOffset now, DateTimeOffset? oldestUnapplied, bool unreadWaiting, DateTimeOffset? lastAppliedCommit)
    {
        // A commit time ahead of this clock is skew between hosts, not negative lag.
        if (oldestUnapplied is { } oldest)
        {
            return Math.Max(0, (now - oldest).TotalSeconds);
        }

        if (!unreadWaiting)
        {
            return 0;
        }

        return lastAppliedCommit is { } committed ? Math.Max(0, (now - committed).TotalSeconds) : null;
    }
}
