using System.Collections.Concurrent;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// Lets one message per subject through per interval and counts the rest, so a rule that misfires on every
/// record of a busy table logs once in a while instead of flooding the log.
/// </summary>
internal sealed class RateLimitedLog(TimeSpan interval, TimeProvider time)
{
    private readonly ConcurrentDictionary<object, Entry> _entries = new();

    public bool ShouldLog(object subject, out long suppressed)
    {
        var entry = _entries.GetOrAdd(subject, static _ => new Entry());
        var now = time.GetTimestamp();
        lock (entry)
        {
            if (entry.LastLogged is { } last && time.GetElapsedTime(last, now) < interval)
            {
                entry.Suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = entry.Suppressed;
            entry.Suppressed = 0;
            entry.LastLogged = now;
            return true;
        }
    }

    private sealed class Entry
    {
        public long? LastLogged { get; set; }

        public long Suppressed { get; set; }
    }
}
