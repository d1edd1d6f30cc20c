namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// Counts per second over the last minutes, for rates ("deletes/s") and the throughput sparkline.
/// Cheap to add to (a lock per batch, not per record) and sized so a status read never allocates much.
/// </summary>
internal sealed class RateWindow(TimeProvider time, int seconds = 120)
{
    private readonly long[] _counts = new long[seconds];
    private readonly long[] _stamps = new long[seconds];
    private readonly Lock _lock = new();

    public void Add(long count)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        lock (_lock)
        {
            var slot = (int)(now % _counts.Length);
            if (_stamps[slot] != now)
            {
                _stamps[slot] = now;
                _counts[slot] = 0;
            }

            _counts[slot] += count;
        }
    }

    /// <summary>Per second over the last <paramref name="window"/> completed seconds (the current one is still filling).</summary>
    public double PerSecond(int window = 10)
    {
        var series = Series(window);
        return series.Length == 0 ? 0 : series.Sum() / (double)series.Length;
    }

    /// <summary>Counts of the last <paramref name="length"/> completed seconds, oldest first.</summary>
    public long[] Series(int length)
    {
        length = Math.Clamp(length, 0, _counts.Length - 1);
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var series = new long[length];
        lock (_lock)
        {
            for (var i = 0; i < length; i++)
            {
                var second = now - length + i;
                var slot = (int)(second % _counts.Length);
                series[i] = _stamps[slot] == second ? _counts[slot] : 0;
            }
        }

        return series;
    }
}
