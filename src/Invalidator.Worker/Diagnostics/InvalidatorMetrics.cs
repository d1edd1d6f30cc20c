using System.Diagnostics.Metrics;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// The worker's instruments on the <c>Invalidator</c> meter. Names follow the Prometheus names operators
/// query (the exporter adds units and <c>_total</c> where needed).
/// </summary>
internal sealed class InvalidatorMetrics
{
    public const string MeterName = "Invalidator";

    public InvalidatorMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        Records = meter.CreateCounter<long>("invalidator_records", description: "Source records handled, by topic, op and outcome.");
        KeysDeleted = meter.CreateCounter<long>("invalidator_keys_deleted", description: "Keys sent to UNLINK/DEL, by region.");
        KeysFound = meter.CreateCounter<long>("invalidator_keys_found", description: "Deletes that removed a cached key, by region.");
        RegionRetries = meter.CreateCounter<long>("invalidator_region_retries", description: "Retried delete attempts, by region.");
        RegionDeleteSeconds = meter.CreateHistogram<double>("invalidator_region_delete_seconds", unit: "s", description: "Time to apply one batch in one region.");
        DeadLetters = meter.CreateCounter<long>("invalidator_dead_letters", description: "Records written to the dead-letter topic, by reason.");
        UnresolvedTemplates = meter.CreateCounter<long>("invalidator_unresolved_templates", description: "Template renders skipped for a missing, null or unavailable column.");
        BatchSize = meter.CreateHistogram<int>("invalidator_batch_size", description: "Records per applied batch.");
    }

    public Counter<long> Records { get; }

    public Counter<long> KeysDeleted { get; }

    public Counter<long> KeysFound { get; }

    public Counter<long> RegionRetries { get; }

    public Histogram<double> RegionDeleteSeconds { get; }

    public Counter<long> DeadLetters { get; }

    public Counter<long> UnresolvedTemplates { get; }

    public Histogram<int> BatchSize { get; }
}
