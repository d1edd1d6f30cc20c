using Invalidator.Worker.Events;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// One region's canaries of the last <see cref="Span"/>, for the status page: the last canary, the p99 of its freshness,
/// and the share within the objective (a lost canary counts as outside it). Prometheus gets the full histogram.
/// </summary>
internal sealed class FreshnessWindow(string region)
{
    /// <summary>How far back the page's figures look.</summary>
    public static readonly TimeSpan Span = TimeSpan.FromMinutes(15);

    // At one canary per second this holds more than the span; a smaller interval keeps only the newest.
    private const int MaxSamples = 4096;

    private readonly Queue<CanaryMeasured> _samples = new();
    private readonly Lock _lock = new();

    public void Add(in CanaryMeasured measured)
    {
        lock (_lock)
        {
            _samples.Enqueue(measured);
            while (_samples.Count > MaxSamples)
            {
                _samples.Dequeue();
            }
        }
    }

    public FreshnessView Summarize(DateTimeOffset now)
    {
        CanaryMeasured[] recent;
        lock (_lock)
        {
            while (_samples.TryPeek(out var oldest) && now - oldest.At > Span)
            {
                _samples.Dequeue();
            }

            recent = [.. _samples];
        }

        if (recent.Length == 0)
        {
            return new FreshnessView(region, null, null, null, null, null, 0, null, 0, 0, 0);
        }

        var last = recent[^1];
        var ok = recent.Count(s => s.Result == CanaryResult.Ok);
        var late = recent.Count(s => s.Result == CanaryResult.Late);
        var lost = recent.Length - ok - late;
        // A lost canary's freshness is unknown but longer than any measured one: it sorts last.
        var sorted = recent.Select(s => s.Freshness?.TotalSeconds ?? double.PositiveInfinity).Order().ToArray();
        var p99 = sorted[Math.Clamp((int)Math.Ceiling(0.99 * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new FreshnessView(
            region, last.Canary, ResultName(last.Result), last.Freshness?.TotalSeconds, last.At, last.Reason,
            recent.Length, double.IsFinite(p99) ? p99 : null, (double)ok / recent.Length, late, lost);
    }

    public static string ResultName(CanaryResult result) => result switch
    {
        CanaryResult.Ok => "ok",
        CanaryResult.Late => "late",
        _ => "lost",
    };
}

/// <summary>
/// One region's freshness on the status page: the last canary (name, result, seconds from commit to gone, when, why it
/// was lost), and over the last 15 minutes the canaries counted, the p99 (null when it is a lost one), the share within
/// the objective, and the late and lost ones.
/// </summary>
internal sealed record FreshnessView(
    string Region,
    string? LastCanary,
    string? LastResult,
    double? LastSeconds,
    DateTimeOffset? LastAt,
    string? LastReason,
    int Canaries,
    double? P99Seconds,
    double? WithinObjective,
    int Late,
    int Lost);
