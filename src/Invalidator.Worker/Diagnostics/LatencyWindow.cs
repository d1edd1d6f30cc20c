namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// The most recent latency samples, for the status page's percentiles. Prometheus gets the full histogram;
/// a person glancing at the page wants "how is it now", so old samples simply fall out.
/// </summary>
internal sealed class LatencyWindow(int capacity = 4096)
{
    private readonly double[] _samples = new double[capacity];
    private readonly Lock _lock = new();
    private long _written;

    public void AddRange(ReadOnlySpan<double> seconds)
    {
        lock (_lock)
        {
            foreach (var sample in seconds)
            {
                _samples[_written % _samples.Length] = sample;
                _written++;
            }
        }
    }

    public LatencySummary Summarize()
    {
        double[] copy;
        lock (_lock)
        {
            copy = _samples.AsSpan(0, (int)Math.Min(_written, _samples.Length)).ToArray();
        }

        if (copy.Length == 0)
        {
            return new LatencySummary(0, null, null, null, null);
        }

        Array.Sort(copy);
        return new LatencySummary(copy.Length, Percentile(copy, 0.50), Percentile(copy, 0.90), Percentile(copy, 0.99), copy[^1]);
    }

    // Nearest rank: a percentile is always a latency that really happened.
    private static double Percentile(double[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>Percentiles in seconds of the recent samples; null while there are none.</summary>
internal sealed record LatencySummary(int Samples, double? P50, double? P90, double? P99, double? Max);
