using System.Diagnostics.Metrics;

namespace Invalidator.Client;

/// <summary>
/// The client's counters on the <c>Invalidator.Client</c> meter. A refused populate is the set-after-delete race caught:
/// an invalidation came between the reader's database read and its populate.
/// </summary>
internal sealed class LeasedCacheMetrics : IDisposable
{
    private readonly Meter? _ownedMeter;

    public LeasedCacheMetrics(IMeterFactory? meterFactory)
    {
        // A factory owns (and disposes) the meters it creates; without one this cache owns its meter.
        var meter = meterFactory?.Create(new MeterOptions(LeasedCache.MeterName)) ?? (_ownedMeter = new Meter(LeasedCache.MeterName));
        PopulatesStored = meter.CreateCounter<long>("invalidator_client_populates_stored",
            description: "Loaded values stored by the guarded populate (the reader still held its lease).");
        PopulatesRefused = meter.CreateCounter<long>("invalidator_client_populates_refused",
            description: "Guarded populates refused: the lease was deleted by an invalidation (or expired) after the reader took it.");
        LeaseWaits = meter.CreateCounter<long>("invalidator_client_lease_waits",
            description: "Pauses taken because another reader held the key's lease.");
        LoadsWithoutPopulate = meter.CreateCounter<long>("invalidator_client_loads_without_populate",
            description: "Loads done without populating, after the bounded lease waits ran out.");
        ReadsBypassed = meter.CreateCounter<long>("invalidator_client_reads_bypassed",
            description: "Reads with LeasedReadOptions.AfterLsn that loaded from the database without the cache: the region had not applied that position yet.");
    }

    public Counter<long> PopulatesStored { get; }

    public Counter<long> PopulatesRefused { get; }

    public Counter<long> LeaseWaits { get; }

    public Counter<long> LoadsWithoutPopulate { get; }

    public Counter<long> ReadsBypassed { get; }

    public void Dispose() => _ownedMeter?.Dispose();
}
