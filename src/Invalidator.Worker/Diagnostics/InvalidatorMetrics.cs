using System.Diagnostics.Metrics;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// The worker's instruments on the <c>Invalidator</c> meter. The exported Prometheus names are a public
/// contract (docs/operations.md, Grafana dashboard, alerts): the OpenTelemetry exporter adds <c>_total</c> to counters
/// and keeps a name that already ends in its unit, so <c>invalidator_records</c> is scraped as
/// <c>invalidator_records_total</c> and <c>invalidator_lag_seconds</c> stays as it is.
/// </summary>
internal sealed class InvalidatorMetrics
{
    public const string MeterName = "Invalidator";

    // Explicit buckets: the exporter's defaults are milliseconds-shaped (0..10000), useless for seconds.
    private static readonly double[] DeleteSecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] EndToEndSecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
    private static readonly int[] BatchSizeBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000];

    private readonly Meter _meter;

    public InvalidatorMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _meter = meter;
        Records = meter.CreateCounter<long>("invalidator_records", description: "Source records handled, by topic, op and outcome.");
        KeysDeleted = meter.CreateCounter<long>("invalidator_keys_deleted", description: "Keys sent to UNLINK/DEL, by region.");
        KeysFound = meter.CreateCounter<long>("invalidator_keys_found", description: "Deletes that removed a cached key, by region.");
        RegionRetries = meter.CreateCounter<long>("invalidator_region_retries", description: "Retried delete attempts, by region.");
        RegionDeleteSeconds = meter.CreateHistogram(
            "invalidator_region_delete_seconds",
            unit: "s",
            description: "Time to apply one batch in one region, retries included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DeleteSecondsBuckets });
        DeadLetters = meter.CreateCounter<long>("invalidator_dead_letters", description: "Records written to the dead-letter topic, by reason and region.");
        SecondDeletes = meter.CreateCounter<long>("invalidator_second_deletes", description: "Keys and tag members deleted again by the delayed second delete, by region.");
        SecondDeleteHits = meter.CreateCounter<long>("invalidator_second_delete_hits", description: "Second deletes that found the key again (repopulated inside the window; with leases also a lease a reader held), by region.");
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
        EndToEndSeconds = meter.CreateHistogram(
            "invalidator_end_to_end_seconds",
            unit: "s",
            description: "Database commit time to the moment every region acknowledged the delete.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EndToEndSecondsBuckets });
    }

    public Counter<long> Records { get; }

    public Counter<long> KeysDeleted { get; }

    public Counter<long> KeysFound { get; }

    public Counter<long> RegionRetries { get; }

    public Histogram<double> RegionDeleteSeconds { get; }

    public Counter<long> DeadLetters { get; }

    public Counter<long> SecondDeletes { get; }

    public Counter<long> SecondDeleteHits { get; }

    public Counter<long> SecondDeletesEarly { get; }

    public Counter<long> UnresolvedTemplates { get; }

    public Histogram<int> BatchSize { get; }

    public Counter<long> RegionPoison { get; }

    public Histogram<double> EndToEndSeconds { get; }

    public Counter<long> RulesReloads { get; }

    public Counter<long> ShadowRecords { get; }

    public Counter<long> ShadowKeys { get; }

    public Counter<long> ShadowTags { get; }

    public Counter<long> SuspectDefaultIdentity { get; }

    /// <summary><c>invalidator_rules_info{version,loaded_at}</c>, read from the live rules when scraped. Called once, when they are first loaded.</summary>
    public void ObserveRules(Func<IEnumerable<Measurement<int>>> info) =>
        _meter.CreateObservableGauge("invalidator_rules_info", info, description: "1, labelled with the live rules file's version (a hash of its text) and when it was loaded.");

    /// <summary><c>invalidator_redrive_backlog_age_seconds{region}</c>, read from the worker's status when scraped. Called once, by <see cref="WorkerStatus"/>.</summary>
    public void ObserveRedriveBacklog(Func<IEnumerable<Measurement<double>>> ages) =>
        _meter.CreateObservableGauge("invalidator_redrive_backlog_age_seconds", ages, unit: "s", description: "Age of the oldest dead letter the region's redrive is working on (0 when none waits); above Invalidator:DeadLetter:MaxRedriveAge the region is not ready.");

    /// <summary>
    /// The gauges, read from the worker's status when scraped (never measured on the consume loop).
    /// Called once, by <see cref="WorkerStatus"/>.
    /// </summary>
    public void ObserveStatus(
        Func<IEnumerable<Measurement<long>>> consumerLag,
        Func<IEnumerable<Measurement<double>>> lagSeconds,
        Func<IEnumerable<Measurement<int>>> circuitOpen,
        Func<long> secondDeletesPending)
    {
        _meter.CreateObservableGauge("invalidator_consumer_lag_messages", consumerLag, description: "Log-end offset minus committed offset, per assigned partition (from librdkafka statistics).");
        _meter.CreateObservableGauge("invalidator_lag_seconds", lagSeconds, unit: "s", description: "Now minus the database commit time of the partition's last applied record.");
        _meter.CreateObservableGauge("invalidator_region_circuit_open", circuitOpen, description: "1 while the region's circuit breaker is open or half-open, else 0.");
        _meter.CreateObservableGauge("invalidator_second_deletes_pending", secondDeletesPending, description: "Keys and tags waiting for their delayed second delete (bounded by Invalidator:Consistency:SecondDeleteMaxPending).");
    }
}
