using System.Diagnostics.Metrics;
using System.Globalization;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// The worker's instruments on the <c>Invalidator</c> meter. The exported Prometheus names are a public
/// contract (docs/operations.md, Grafana dashboard, alerts): the OpenTelemetry exporter adds <c>_total</c> to counters
/// and keeps a name that already ends in its unit, so <c>invalidator_records</c> is scraped as
/// <c>invalidator_records_total</c> and <c>invalidator_lag_seconds</c> stays as it is. The counters and histograms are
/// read from the worker's events; the gauges from the status (<see cref="ObserveStatus"/>) when scraped.
/// </summary>
internal sealed class InvalidatorMetrics :
    IEventListener<RecordHandled>,
    IEventListener<TemplateUnresolved>,
    IEventListener<ShadowPlanned>,
    IEventListener<SuspectDefaultIdentitySeen>,
    IEventListener<RulesReloaded>,
    IEventListener<BatchApplied>,
    IEventListener<SecondDeletesRanEarly>,
    IEventListener<RegionApplied>,
    IEventListener<RegionSecondDeleted>,
    IEventListener<RegionReplicaDeleted>,
    IEventListener<RegionRetried>,
    IEventListener<RegionReplicaAcksMissing>,
    IEventListener<DeadLetterWritten>,
    IEventListener<ReplicaWatched>,
    IEventListener<ReplicaWaitExpired>,
    IEventListener<CanaryMeasured>
{
    public const string MeterName = "Invalidator";

    // Explicit buckets: the exporter's defaults are milliseconds-shaped (0..10000), useless for seconds.
    private static readonly double[] DeleteSecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] EndToEndSecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
    private static readonly double[] FreshnessSecondsBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
    private static readonly int[] BatchSizeBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000];

    private readonly Meter _meter;

    /// <param name="meterFactory">Where the meter comes from (the host's, which the exporter reads).</param>
    /// <param name="regions">The configured regions: their series exist from the start at 0, so rate() and increase() see the first retry or dead letter.</param>
    public InvalidatorMetrics(IMeterFactory meterFactory, IEnumerable<string>? regions = null)
    {
        var meter = meterFactory.Create(MeterName);
        _meter = meter;
        Records = meter.CreateCounter<long>("invalidator_records", description: "Source records handled, by topic, op and outcome.");
        KeysDeleted = meter.CreateCounter<long>("invalidator_keys_deleted", description: "Keys sent to UNLINK/DEL, by region.");
        KeysFound = meter.CreateCounter<long>("invalidator_keys_found", description: "Deletes that removed a cached key, by region.");
        RegionRetries = meter.CreateCounter<long>("invalidator_region_retries", description: "Retried delete attempts, by region.");
        RegionReplicaAcksMissing = meter.CreateCounter<long>("invalidator_region_replica_acks_missing", description: "Delete attempts whose WAIT got fewer replica acknowledgements than Invalidator:Regions:<name>:WaitReplicas (the attempt failed and was retried or dead-lettered), by region.");
        RegionDeleteSeconds = meter.CreateHistogram(
            "invalidator_region_delete_seconds",
            unit: "s",
            description: "Time to apply one batch in one region, retries included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DeleteSecondsBuckets });
        DeadLetters = meter.CreateCounter<long>("invalidator_dead_letters", description: "Records written to the dead-letter topic, by reason and region.");
        SecondDeletes = meter.CreateCounter<long>("invalidator_second_deletes", description: "Keys and tag members deleted again by the delayed second delete, by region.");
        SecondDeleteHits = meter.CreateCounter<long>("invalidator_second_delete_hits", description: "Second deletes that found the key again (repopulated inside the window; with leases also a lease a reader held), by region.");
        ReplicaDeletes = meter.CreateCounter<long>("invalidator_replica_deletes", description: "Keys and tag members deleted again once every read replica replayed their change (tables that wait for replicas), by region.");
        ReplicaDeleteHits = meter.CreateCounter<long>("invalidator_replica_delete_hits", description: "Replica deletes that found the key cached again (a reader stored the old row from a replica that had not replayed the change yet), by region.");
        SecondDeletesEarly = meter.CreateCounter<long>("invalidator_second_deletes_early", description: "Keys and tags whose second delete ran before its delay because Invalidator:Consistency:SecondDeleteMaxPending was reached.");
        UnresolvedTemplates = meter.CreateCounter<long>("invalidator_unresolved_templates", description: "Template renders skipped for a missing, null, unavailable, untrusted or undecodable column, no image at all, or a name over Rules:MaxKeyBytes.");
        BatchSize = meter.CreateHistogram(
            "invalidator_batch_size",
            description: "Records per applied batch.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchSizeBuckets });
        RulesReloads = meter.CreateCounter<long>("invalidator_rules_reloads", description: "Reloads of the rules file (a change or SIGHUP), by result: applied, rejected (the rules running keep running) or unchanged.");
        ShadowRecords = meter.CreateCounter<long>("invalidator_shadow_records", description: "Changes planned in shadow (Invalidator:Mode = Shadow or the rule's shadow: true): counted, nothing deleted, by table.");
        ShadowKeys = meter.CreateCounter<long>("invalidator_shadow_keys", description: "Keys shadow plans would have deleted (per change, before deduplication), by table.");
        ShadowTags = meter.CreateCounter<long>("invalidator_shadow_tags", description: "Tags shadow plans would have invalidated (per change, before deduplication), by table.");
        SuspectDefaultIdentity = meter.CreateCounter<long>("invalidator_suspect_default_identity", description: "Deletes whose before image holds only the key's columns and type defaults (REPLICA IDENTITY DEFAULT's shape) of tables whose rule does not state replicaIdentity, by table.");
        RegionPoison = meter.CreateCounter<long>("invalidator_region_poison", description: "Keys and tags a region's server refused for good (WRONGTYPE and other command errors), dead-lettered as poison letters while the rest of their batch applied, and region letters the redrive quarantined, by region.");
        ReplicaWaitsExpired = meter.CreateCounter<long>("invalidator_replica_waits_expired", description: "Waits for a read replica that reached Invalidator:Consistency:ReplicaWaitMax before it replayed the change (its keys were deleted again without it), by replica.");
        EndToEndSeconds = meter.CreateHistogram(
            "invalidator_end_to_end_seconds",
            unit: "s",
            description: "Database commit time to the moment every region acknowledged the delete.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EndToEndSecondsBuckets });

        FreshnessSeconds = meter.CreateHistogram(
            "invalidator_freshness_seconds",
            unit: "s",
            description: "Freshness probe: a canary row's commit to its canary being gone, by region.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FreshnessSecondsBuckets });
        FreshnessProbes = meter.CreateCounter<long>(
            "invalidator_freshness_probes",
            description: "Freshness probe canaries by region and result: ok (gone within Invalidator:Probe:Objective), late, or lost (not gone by Invalidator:Probe:Deadline).");

        foreach (var region in regions ?? [])
        {
            var tag = new KeyValuePair<string, object?>("region", region);
            KeysDeleted.Add(0, tag);
            KeysFound.Add(0, tag);
            RegionRetries.Add(0, tag);
            RegionReplicaAcksMissing.Add(0, tag);
            SecondDeletes.Add(0, tag);
            SecondDeleteHits.Add(0, tag);
            ReplicaDeletes.Add(0, tag);
            ReplicaDeleteHits.Add(0, tag);
            RegionPoison.Add(0, tag);
        }

        DeadLetters.Add(0, new("reason", "poison"), new("region", ""));
        SecondDeletesEarly.Add(0);
        // From the start at 0, so increase() sees the first refused reload.
        foreach (var result in new[] { "applied", "rejected" })
        {
            RulesReloads.Add(0, new KeyValuePair<string, object?>("result", result));
        }
    }

    private Counter<long> Records { get; }

    private Counter<long> KeysDeleted { get; }

    private Counter<long> KeysFound { get; }

    private Counter<long> RegionRetries { get; }

    private Counter<long> RegionReplicaAcksMissing { get; }

    private Histogram<double> RegionDeleteSeconds { get; }

    private Counter<long> DeadLetters { get; }

    private Counter<long> SecondDeletes { get; }

    private Counter<long> ReplicaDeletes { get; }

    private Counter<long> ReplicaDeleteHits { get; }

    private Counter<long> SecondDeleteHits { get; }

    private Counter<long> SecondDeletesEarly { get; }

    private Counter<long> ReplicaWaitsExpired { get; }

    private Counter<long> UnresolvedTemplates { get; }

    private Histogram<int> BatchSize { get; }

    private Counter<long> RegionPoison { get; }

    private Histogram<double> EndToEndSeconds { get; }

    private Counter<long> RulesReloads { get; }

    private Histogram<double> FreshnessSeconds { get; }

    private Counter<long> FreshnessProbes { get; }

    private Counter<long> ShadowRecords { get; }

    private Counter<long> ShadowKeys { get; }

    private Counter<long> ShadowTags { get; }

    private Counter<long> SuspectDefaultIdentity { get; }

    /// <summary><c>invalidator_rules_info{version,loaded_at}</c>, read from the live rules when scraped. Called once, when they are first loaded.</summary>
    public void ObserveRules(Func<IEnumerable<Measurement<int>>> info) =>
        _meter.CreateObservableGauge("invalidator_rules_info", info, description: "1, labelled with the live rules file's version (a hash of its text) and when it was loaded.");

    /// <summary>The gauges, read from the worker's status when scraped (never measured on the consume loop). Called once.</summary>
    public void ObserveStatus(WorkerStatus status)
    {
        _meter.CreateObservableGauge(
            "invalidator_consumer_lag_messages",
            () => status.Partitions().Where(p => p.LagMessages is not null).Select(p => new Measurement<long>(p.LagMessages!.Value, PartitionTags(p))).ToList(),
            description: "Log-end offset minus committed offset, per assigned partition (from librdkafka statistics).");
        _meter.CreateObservableGauge(
            "invalidator_lag_seconds",
            () => status.Partitions().Where(p => p.LagSeconds is not null).Select(p => new Measurement<double>(p.LagSeconds!.Value, PartitionTags(p))).ToList(),
            unit: "s",
            description: "Age (now minus the database commit time) of the partition's oldest change not applied yet; 0 when nothing waits. Direct mode: topic postgres, partition 0.");
        _meter.CreateObservableGauge(
            "invalidator_slot_lag_bytes",
            () => status.Slot is { LagBytes: { } bytes } slot ? [new Measurement<long>(bytes, new KeyValuePair<string, object?>("slot", slot.Name))] : Array.Empty<Measurement<long>>(),
            description: "Direct mode: WAL the server has written past the replication slot's confirmed position (pg_wal_lsn_diff of pg_current_wal_lsn() and confirmed_flush_lsn), as last polled.");
        _meter.CreateObservableGauge(
            "invalidator_region_circuit_open",
            () => status.Regions().Select(r => new Measurement<int>(r.Circuit == CircuitState.Closed ? 0 : 1, RegionTag(r.Name))).ToList(),
            description: "1 while the region's circuit breaker is open or half-open, else 0.");
        _meter.CreateObservableGauge(
            "invalidator_second_deletes_pending",
            () => status.SecondDeletesPending,
            description: "Keys and tags waiting for their delayed second delete (bounded by Invalidator:Consistency:SecondDeleteMaxPending).");
        _meter.CreateObservableGauge(
            "invalidator_replica_lag_seconds",
            () => status.Replicas().Where(r => r.LagSeconds is not null).Select(r => new Measurement<double>(r.LagSeconds!.Value, new KeyValuePair<string, object?>("replica", r.Name))).ToList(),
            unit: "s",
            description: "A read replica's replay lag as last polled: 0 when it replayed all it received, else the age of the last transaction it replayed; while it does not answer, the last lag plus the time since.");
        _meter.CreateObservableGauge(
            "invalidator_redrive_backlog_age_seconds",
            () => status.Regions().Select(r => new Measurement<double>(r.RedriveAge(status.Time.GetUtcNow())?.TotalSeconds ?? 0, RegionTag(r.Name))).ToList(),
            unit: "s",
            description: "Age of the oldest dead letter the region's redrive is working on (0 when none waits); above Invalidator:DeadLetter:MaxRedriveAge the region is not ready.");
    }

    public void On(in RecordHandled e) =>
        Records.Add(e.Count, new KeyValuePair<string, object?>("topic", e.Source), new KeyValuePair<string, object?>("op", e.Operation), new KeyValuePair<string, object?>("outcome", e.Outcome));

    public void On(in TemplateUnresolved e) =>
        UnresolvedTemplates.Add(1, new KeyValuePair<string, object?>("table", e.Table), new KeyValuePair<string, object?>("template", e.Template));

    public void On(in ShadowPlanned e)
    {
        var tag = new KeyValuePair<string, object?>("table", e.Table);
        ShadowRecords.Add(1, tag);
        ShadowKeys.Add(e.Keys, tag);
        ShadowTags.Add(e.Tags, tag);
    }

    public void On(in SuspectDefaultIdentitySeen e) => SuspectDefaultIdentity.Add(1, new KeyValuePair<string, object?>("table", e.Table));

    public void On(in RulesReloaded e) => RulesReloads.Add(1, new KeyValuePair<string, object?>("result", e.Result));

    public void On(in BatchApplied e)
    {
        foreach (var committed in e.CommitTimes)
        {
            // A commit time ahead of this clock is skew between hosts, not negative latency.
            EndToEndSeconds.Record(Math.Max(0, (e.At - committed).TotalSeconds));
        }

        BatchSize.Record(e.Records);
    }

    public void On(in SecondDeletesRanEarly e) => SecondDeletesEarly.Add(e.Names);

    // The series starts at 0 when the replica is first watched, so increase() sees the first expiry.
    public void On(in ReplicaWatched e) => ReplicaWaitsExpired.Add(0, new KeyValuePair<string, object?>("replica", e.Replica));

    public void On(in ReplicaWaitExpired e) => ReplicaWaitsExpired.Add(1, new KeyValuePair<string, object?>("replica", e.Replica));

    public void On(in RegionApplied e)
    {
        var region = RegionTag(e.Region);
        RegionDeleteSeconds.Record(e.Duration.TotalSeconds, region);
        KeysDeleted.Add(e.KeysDeleted, region);
        KeysFound.Add(e.KeysFound, region);
    }

    public void On(in RegionSecondDeleted e)
    {
        // UNLINK's count is all the second delete learns: a key found again was populated inside the window.
        var region = RegionTag(e.Region);
        SecondDeletes.Add(e.KeysDeleted, region);
        SecondDeleteHits.Add(e.KeysFound, region);
    }

    /// <summary>The probe's series from 0 for each region and result, so increase() sees the first late or lost canary. Called when the probe starts.</summary>
    public void ObserveProbe(IEnumerable<string> regions)
    {
        foreach (var region in regions)
        {
            foreach (var result in new[] { CanaryResult.Ok, CanaryResult.Late, CanaryResult.Lost })
            {
                FreshnessProbes.Add(0, RegionTag(region), ResultTag(result));
            }
        }
    }

    public void On(in CanaryMeasured e)
    {
        var region = RegionTag(e.Region);
        if (e.Freshness is { } freshness)
        {
            FreshnessSeconds.Record(freshness.TotalSeconds, region);
        }

        FreshnessProbes.Add(1, region, ResultTag(e.Result));
    }

    private static KeyValuePair<string, object?> ResultTag(CanaryResult result) => new("result", result switch
    {
        CanaryResult.Ok => "ok",
        CanaryResult.Late => "late",
        _ => "lost",
    });

    public void On(in RegionReplicaDeleted e)
    {
        var region = RegionTag(e.Region);
        ReplicaDeletes.Add(e.KeysDeleted, region);
        ReplicaDeleteHits.Add(e.KeysFound, region);
    }

    public void On(in RegionRetried e) => RegionRetries.Add(1, RegionTag(e.Region));

    public void On(in RegionReplicaAcksMissing e) => RegionReplicaAcksMissing.Add(1, RegionTag(e.Region));

    public void On(in DeadLetterWritten e)
    {
        var region = RegionTag(e.Region);
        if (e.PoisonedNames > 0)
        {
            RegionPoison.Add(e.PoisonedNames, region);
        }

        DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", e.Kind), region);
    }

    private static KeyValuePair<string, object?> RegionTag(string region) => new("region", region);

    private static KeyValuePair<string, object?>[] PartitionTags(PartitionView partition) =>
        [new("topic", partition.Source), new("partition", partition.Partition.ToString(CultureInfo.InvariantCulture))];
}
