using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Invalidator.RaceHarness;

/// <summary>
/// Sums the long counters of the meters one <see cref="IMeterFactory"/> created (one worker host, one cache), by
/// instrument name. Scoped by the factory, so runs in parallel in one process do not see each other's counts.
/// </summary>
public sealed class CounterTotals : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);
    private readonly MeterListener _listener = new();

    public CounterTotals(IMeterFactory scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument is Counter<long>)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value));
        _listener.Start();
    }

    /// <summary>The total of a counter since this object was created; 0 for one that never counted.</summary>
    public long this[string counter] => _totals.TryGetValue(counter, out var total) ? total : 0;

    public void Dispose() => _listener.Dispose();
}
