using System.Diagnostics.Metrics;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Counts <c>invalidator_records</c> of one topic by outcome, as a metrics exporter sees them.</summary>
internal sealed class RecordOutcomes : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public RecordOutcomes(string topic)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Invalidator" && instrument.Name == "invalidator_records")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? t = null, o = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "topic")
                {
                    t = tag.Value as string;
                }
                else if (tag.Key == "outcome")
                {
                    o = tag.Value as string;
                }
            }

            if (t == topic && o is not null)
            {
                lock (_lock)
                {
                    _counts[o] = _counts.GetValueOrDefault(o) + value;
                }
            }
        });
        _listener.Start();
    }

    public long Total
    {
        get
        {
            lock (_lock)
            {
                return _counts.Values.Sum();
            }
        }
    }

    public long Of(string outcome)
    {
        lock (_lock)
        {
            return _counts.GetValueOrDefault(outcome);
        }
    }

    public override string ToString()
    {
        lock (_lock)
        {
            return string.Join(", ", _counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));
        }
    }

    public void Dispose() => _listener.Dispose();
}
