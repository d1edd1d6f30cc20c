using System.Globalization;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>
/// The replay's progress on stderr: on a terminal one line redrawn in place (a bar, records, keys, rate, time left),
/// elsewhere (a pipe, a log collector) a plain line about once a second.
/// </summary>
internal sealed class ReplayProgress(TextWriter error, bool redraw, TimeProvider time)
{
    private const int BarWidth = 24;
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(1);

    private readonly long _started = time.GetTimestamp();
    private long? _lastShown = time.GetTimestamp(); // the first line after one interval: a rate needs some records
    private int _drawnWidth;

    /// <summary>Whether stderr is a terminal (then the line is redrawn in place).</summary>
    public static bool IsTerminal(TextWriter error) => ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;

    public TimeSpan Elapsed => time.GetElapsedTime(_started);

    /// <summary>Shows the progress if it is time to; <paramref name="final"/> always shows it (and ends a redrawn line).</summary>
    public void Report(long read, long total, long applied, long keys, bool final = false)
    {
        var now = time.GetTimestamp();
        if (!final && _lastShown is { } last && time.GetElapsedTime(last, now) < (redraw ? RedrawInterval : LineInterval))
        {
            return;
        }

        _lastShown = now;
        var line = Line(read, total, applied, keys);
        if (redraw)
        {
            error.Write("\r" + line.PadRight(_drawnWidth));
            _drawnWidth = line.Length;
            if (final)
            {
                error.WriteLine();
            }
        }
        else
        {
            error.WriteLine(line);
        }

        error.Flush();
    }

    private string Line(long read, long total, long applied, long keys)
    {
        var seconds = Math.Max(Elapsed.TotalSeconds, 0.001);
        var rate = read / seconds;
        var share = total > 0 ? Math.Min(1, (double)read / total) : 1;
        var filled = (int)Math.Round(share * BarWidth);
        var left = read >= total
            ? applied < read ? $"reading done, {read - applied} records being applied" : "done"
            : rate > 0 ? $"about {(total - read) / rate:0.0} s left" : "starting";
        return string.Create(CultureInfo.InvariantCulture,
            $"replay: [{new string('#', filled)}{new string('-', BarWidth - filled)}] {share * 100:0}% {read} of {total} records, {keys} keys, {rate:0} records/s, {left}");
    }
}
