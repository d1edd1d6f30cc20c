using System.Globalization;

namespace Invalidator.Worker.Cli.Audit;

/// <summary>
/// Keeps an audit's reads under <c>--rate</c> (waiting when it is ahead of the rate's schedule) and writes a progress
/// line to stderr at most every <see cref="ProgressInterval"/>: keys scanned, the rate, and the time left.
/// </summary>
internal sealed class ScanPace
{
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    private readonly double _perSecond;
    private readonly TimeProvider _time;
    private readonly TextWriter _progress;
    private readonly long _start;
    private long _lastReport;

    public ScanPace(double perSecond, TimeProvider time, TextWriter progress)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        _perSecond = perSecond;
        _time = time;
        _progress = progress;
        _start = time.GetTimestamp();
        _lastReport = _start;
    }

    /// <summary>Reads so far: keys scanned, tag-set members and TTLs read.</summary>
    public long Reads { get; private set; }

    public TimeSpan Elapsed => _time.GetElapsedTime(_start);

    /// <summary>Reads per second so far.</summary>
    public double Rate => Elapsed.TotalSeconds > 0 ? Reads / Elapsed.TotalSeconds : 0;

    /// <summary>Counts <paramref name="reads"/> more and waits until the rate allows the next ones.</summary>
    public async Task AdvanceAsync(int reads, CancellationToken cancellationToken)
    {
        Reads += reads;
        var due = TimeSpan.FromSeconds(Reads / _perSecond);
        var ahead = due - Elapsed;
        if (ahead > TimeSpan.Zero)
        {
            await Task.Delay(ahead, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a progress line when the last one is older than <see cref="ProgressInterval"/>.</summary>
    /// <param name="phase">What <paramref name="done"/> counts, in the plural: <c>keys scanned</c>.</param>
    public void Report(string region, string phase, long done, long? total)
    {
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_lastReport, now) < ProgressInterval)
        {
            return;
        }

        _lastReport = now;
        var rate = Rate;
        var of = total is { } t && t > 0
            ? string.Create(CultureInfo.InvariantCulture, $" of about {t} {phase} ({Math.Min(100, 100.0 * done / t):F0}%)")
            : " " + phase;
        var left = total is { } all && all > done && rate > 0
            ? string.Create(CultureInfo.InvariantCulture, $", about {AuditText.Duration(TimeSpan.FromSeconds((all - done) / Math.Min(rate, _perSecond)))} left")
            : "";
        _progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"audit {region}: {done}{of}, {rate:F0} reads/s{left}"));
    }
}
