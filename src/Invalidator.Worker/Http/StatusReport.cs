using System.Globalization;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Http;

/// <summary>
/// Turns <see cref="WorkerStatus"/> (and each region's live connection state) into the answers of
/// <c>/healthz</c>, <c>/readyz</c> and the status page. Every answer says why, in words.
/// </summary>
internal sealed class StatusReport(WorkerStatus status, RegionSet regions, IOptions<HttpOptions> options, LiveRules rules, IOptions<InvalidatorOptions> worker)
{
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";
    public const string Ready = "ready";
    public const string NotReady = "not_ready";

    private const int SparklineSeconds = 60;

    private readonly TimeSpan _livenessTimeout = options.Value.LivenessTimeout;
    private readonly WorkerMode _mode = worker.Value.Mode;

    /// <summary>Liveness: every consume loop has gone round (or worked on a region) recently and none has stopped.</summary>
    public HealthReport Liveness()
    {
        var now = status.Time.GetUtcNow();
        var checks = new List<HealthCheck>();
        var regionActivity = status.LastRegionActivity;
        foreach (var (source, lastTick, stoppedReason) in status.Loops())
        {
            var name = $"loop:{source}";
            if (stoppedReason is not null)
            {
                checks.Add(new HealthCheck(name, false, $"the {source} consume loop stopped: {stoppedReason}"));
                continue;
            }

            // A loop blocked on a region that keeps retrying is alive: restarting would not help it.
            var last = Latest(lastTick, regionActivity) ?? status.StartedAt;
            var age = now - last;
            checks.Add(age <= _livenessTimeout
                ? new HealthCheck(name, true, $"last turn {Seconds(now - (lastTick ?? status.StartedAt))} ago" + (lastTick < regionActivity ? $"; applying a batch, last region attempt {Seconds(now - regionActivity!.Value)} ago" : ""))
                : new HealthCheck(name, false, $"no turn of the {source} consume loop and no region attempt for {Seconds(age)} (limit {Seconds(_livenessTimeout)}, Invalidator:Http:LivenessTimeout)"));
        }

        if (checks.Count == 0)
        {
            checks.Add(new HealthCheck("loop", true, $"starting: no consume loop has reported yet (up {Seconds(now - status.StartedAt)})"));
        }

        return Report(checks, Healthy, Unhealthy);
    }

    /// <summary>Readiness: the source has partitions (or a stream), and every region is reachable or deliberately dead-lettering.</summary>
    public HealthReport Readiness()
    {
        var checks = new List<HealthCheck> { SourceCheck() };
        checks.AddRange(Regions().Select(r => new HealthCheck($"region:{r.Name}", r.Ready, r.Detail)));
        return Report(checks, Ready, NotReady);
    }

    public StatusSnapshot Snapshot()
    {
        var now = status.Time.GetUtcNow();
        var (deadLetterTotal, recentDeadLetters) = status.DeadLetters();
        return new StatusSnapshot(
            now,
            status.StartedAt,
            (now - status.StartedAt).TotalSeconds,
            Liveness(),
            Readiness(),
            status.RecordsApplied,
            status.BatchesApplied,
            status.Throughput.PerSecond(),
            status.Throughput.Series(SparklineSeconds),
            status.EndToEnd,
            status.Partitions(),
            status.StatisticsAgeSeconds,
            Regions(),
            deadLetterTotal,
            recentDeadLetters,
            new SecondDeleteView(status.SecondDeleteDelay.TotalSeconds, status.SecondDeletesPending, status.SecondDeletesEarly),
            _mode == WorkerMode.Shadow ? "shadow" : "live",
            Rules(),
            status.Shadow())
        {
            SuspectDefaultIdentity = status.SuspectDefaultIdentities(),
            Replicas = status.Replicas(),
            Slot = status.Slot,
            Freshness = status.Probe.Enabled || status.Freshness().Count > 0
                ? new ProbeView(status.Probe.Enabled, status.Probe.Interval.TotalSeconds, status.Probe.Objective.TotalSeconds, status.Probe.Deadline.TotalSeconds, status.Freshness())
                : null,
        };
    }

    private RulesView Rules()
    {
        var current = rules.Current;
        var shadowTables = current.Rules.Tables.Values.Where(t => t.Shadow).Select(t => t.Table).Order(StringComparer.Ordinal).ToList();
        var reload = rules.LastReload is { } last
            ? new RulesReloadView(last.At, last.Trigger, last.Result.ToString().ToLowerInvariant(), last.Version, last.Errors, last.ErrorCount)
            : null;
        return new RulesView(current.Path, current.Version, current.LoadedAt, current.Rules.Tables.Values.Count(t => !t.BuiltIn), shadowTables, reload);
    }

    private HealthCheck SourceCheck()
    {
        var partitions = status.Partitions();
        var streaming = status.ConnectedSources().Where(s => s.DisconnectedReason is null).Select(s => s.Source).ToList();
        if (partitions.Count > 0 || streaming.Count > 0)
        {
            var parts = new List<string>();
            if (partitions.Count > 0)
            {
                parts.Add($"{partitions.Count} partition(s) assigned: {string.Join(", ", partitions.Select(p => $"{p.Source}[{p.Partition}]"))}");
            }

            parts.AddRange(streaming.Select(s => $"{s} streaming"));
            return new HealthCheck("source", true, string.Join("; ", parts));
        }

        var disconnected = status.ConnectedSources().Where(s => s.DisconnectedReason is not null).Select(s => $"{s.Source} disconnected: {s.DisconnectedReason}");
        return new HealthCheck("source", false, string.Join("; ", ["no partitions assigned (yet: the consumer group may be rebalancing, or there are more workers than partitions)", .. disconnected]));
    }

    private List<RegionView> Regions()
    {
        var now = status.Time.GetUtcNow();
        var maxRedriveAge = status.MaxRedriveAge;
        var connections = regions.Regions.ToDictionary(r => r.Name, r => r.Connection, StringComparer.OrdinalIgnoreCase);
        // Only Redis says whether a delete found the key; FusionCache and the output cache do not.
        var countsFound = regions.Regions.Where(r => r.CountsFound).Select(r => r.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var views = new List<RegionView>();
        foreach (var region in status.Regions())
        {
            var connected = connections.TryGetValue(region.Name, out var connection) && connection.IsConnected;
            var endpoints = connection is null ? "" : string.Join(",", connection.GetEndPoints().Select(e => e.ToString()));
            var error = region.LastError is null ? "" : $" (last error: {region.LastError})";
            var backlogAge = region.RedriveAge(now);
            var (state, ready, detail) = region switch
            {
                // Checked first: a region that dead-letters on purpose is ready only while its letters get redriven in time.
                _ when backlogAge > maxRedriveAge => ("redrive-backlog", false,
                    $"its oldest dead letter waiting for the redrive ({region.RedriveLetter}) is {Seconds(backlogAge.Value)} old, over Invalidator:DeadLetter:MaxRedriveAge ({Seconds(maxRedriveAge)}): its Redis is down that long, or its redrive is stuck" + error),
                { DeadLettering: true } => ("dead-lettering", true, "deliberately dead-lettering: its deletes go to the dead-letter topic"),
                { Circuit: CircuitState.Open } => ("circuit-open", false, "circuit open: deletes are held back" + error),
                { Circuit: CircuitState.HalfOpen } => ("circuit-half-open", false, "circuit half-open: a trial delete decides" + error),
                _ when !connected => ("unreachable", false, $"not connected to {endpoints}" + error),
                { Failing: true } => ("failing", false, "its last batch failed" + error),
                _ => ("ok", true, $"connected to {endpoints}"),
            };
            double? hitRatio = region.KeysDeleted > 0 && countsFound.Contains(region.Name) ? (double)region.KeysFound / region.KeysDeleted : null;
            views.Add(new RegionView(
                region.Name, state, ready, detail, connected, CircuitName(region.Circuit), region.DeadLettering,
                region.DeletesPerSecond, region.KeysDeleted, region.KeysFound, hitRatio, region.LastBatchSeconds,
                region.LastAppliedAt, region.LastError, region.LastErrorAt, region.SecondDeletes, region.SecondDeleteHits, backlogAge?.TotalSeconds));
        }

        return views;
    }

    private static HealthReport Report(List<HealthCheck> checks, string good, string bad)
    {
        var ok = checks.All(c => c.Ok);
        return new HealthReport(ok ? good : bad, ok, checks);
    }

    private static DateTimeOffset? Latest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    private static string CircuitName(CircuitState state) => state switch
    {
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "closed",
    };
}

/// <summary>One check of <c>/healthz</c> or <c>/readyz</c>: what was checked, whether it passed, and why.</summary>
internal sealed record HealthCheck(string Name, bool Ok, string Detail);

/// <summary>The body of <c>/healthz</c> and <c>/readyz</c>; <see cref="Status"/> is also the HTTP status's reason.</summary>
internal sealed record HealthReport(string Status, bool Ok, IReadOnlyList<HealthCheck> Checks);

/// <summary>One region on the status page and in <c>/readyz</c>.</summary>
internal sealed record RegionView(
    string Name,
    string State,
    bool Ready,
    string Detail,
    bool Connected,
    string Circuit,
    bool DeadLettering,
    double DeletesPerSecond,
    long KeysDeleted,
    long KeysFound,
    double? HitRatio,
    double? LastBatchSeconds,
    DateTimeOffset? LastAppliedAt,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    long SecondDeletes,
    long SecondDeleteHits,
    double? RedriveBacklogSeconds = null);

/// <summary>
/// The delayed second delete on the status page: the global delay (<c>Invalidator:Consistency:SecondDeleteDelay</c>, 0
/// when off; rules may set their own), keys and tags waiting for it, and how many ran early because of the bound.
/// </summary>
internal sealed record SecondDeleteView(double DelaySeconds, long Pending, long RanEarly);

/// <summary>Everything the status page shows (<c>/status.json</c>).</summary>
internal sealed record StatusSnapshot(
    DateTimeOffset GeneratedAt,
    DateTimeOffset StartedAt,
    double UptimeSeconds,
    HealthReport Live,
    HealthReport Ready,
    long RecordsApplied,
    long BatchesApplied,
    double RecordsPerSecond,
    IReadOnlyList<long> Throughput,
    LatencySummary EndToEnd,
    IReadOnlyList<PartitionView> Partitions,
    double? StatisticsAgeSeconds,
    IReadOnlyList<RegionView> Regions,
    long DeadLetterTotal,
    IReadOnlyList<DeadLetterView> RecentDeadLetters,
    SecondDeleteView SecondDeletes,
    string Mode,
    RulesView Rules,
    IReadOnlyList<ShadowTableView> Shadow)
{
    /// <summary>Tables whose deletes looked like REPLICA IDENTITY DEFAULT's while their rule does not say (see docs/rules.md, `replicaIdentity`).</summary>
    public IReadOnlyList<SuspectIdentityView> SuspectDefaultIdentity { get; init; } = [];

    /// <summary>The read replicas the worker waits for (<c>Invalidator:Consistency:ReadReplicas</c>), each with its replay lag.</summary>
    public IReadOnlyList<ReplicaView> Replicas { get; init; } = [];

    /// <summary>Direct mode: the replication slot's lag in bytes as last polled (null in Kafka mode).</summary>
    public SlotView? Slot { get; init; }

    /// <summary>The freshness probe (<c>Invalidator:Probe</c>) and each region's canaries; null when the worker does not probe.</summary>
    public ProbeView? Freshness { get; init; }
}

/// <summary>The freshness probe on the status page: its settings (seconds) and each region's figures.</summary>
internal sealed record ProbeView(bool Enabled, double IntervalSeconds, double ObjectiveSeconds, double DeadlineSeconds, IReadOnlyList<FreshnessView> Regions);

/// <summary>The live rules version on the status page, and how the last reload ended.</summary>
internal sealed record RulesView(string Path, string Version, DateTimeOffset LoadedAt, int Tables, IReadOnlyList<string> ShadowTables, RulesReloadView? LastReload);

/// <summary>
/// A reload attempt: <c>applied</c>, <c>rejected</c> (with the file's first errors, and <see cref="ErrorCount"/> of them
/// all) or <c>unchanged</c>.
/// </summary>
internal sealed record RulesReloadView(DateTimeOffset At, string Trigger, string Result, string? Version, IReadOnlyList<string> Errors, int ErrorCount);
