using System.Globalization;
using System.Text.RegularExpressions;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>
/// The time window of <c>replay</c>: <c>--since</c> and, optionally, <c>--until</c>, each an ISO 8601 time (UTC when
/// it names no offset) or a duration before now (<c>2h</c>, <c>90m</c>, <c>1h30m</c>, <c>2d</c>, <c>45s</c>). Without
/// <c>--until</c> the window ends at the end offsets the replay found when it started.
/// </summary>
internal sealed partial record ReplayWindow(DateTimeOffset Since, DateTimeOffset? Until)
{
    public static ReplayWindow Parse(string since, string? until, DateTimeOffset now)
    {
        var from = Time(since, "--since", now);
        if (from > now)
        {
            throw new ReplayException($"--since {since} is in the future ({Text(from)}; now is {Text(now)})");
        }

        if (until is null)
        {
            return new ReplayWindow(from, null);
        }

        var to = Time(until, "--until", now);
        return to > from
            ? new ReplayWindow(from, to)
            : throw new ReplayException($"--until {until} ({Text(to)}) must be later than --since {since} ({Text(from)})");
    }

    public static string Text(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFZ", CultureInfo.InvariantCulture);

    public override string ToString() => $"{Text(Since)} to {(Until is { } until ? Text(until) : "the end offsets at start")}";

    private static DateTimeOffset Time(string text, string option, DateTimeOffset now)
    {
        var value = text.Trim();
        if (Duration().Match(value) is { Success: true } match)
        {
            var span = TimeSpan.Zero;
            foreach (Capture part in match.Groups["part"].Captures)
            {
                var number = double.Parse(part.Value[..^1], CultureInfo.InvariantCulture);
                span += part.Value[^1] switch
                {
                    'd' => TimeSpan.FromDays(number),
                    'h' => TimeSpan.FromHours(number),
                    'm' => TimeSpan.FromMinutes(number),
                    _ => TimeSpan.FromSeconds(number),
                };
            }

            return now - span;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            && value.Length >= 10 && char.IsDigit(value[0]))
        {
            return time;
        }

        throw new ReplayException($"{option} must be an ISO 8601 time such as 2024-06-01T10:00:00Z (UTC unless it says otherwise) or a duration before now such as 2h, 90m, 1h30m or 2d, not '{text}'");
    }

    [GeneratedRegex(@"^(?<part>\d+(\.\d+)?[dhms])+$")]
    private static partial Regex Duration();
}

/// <summary>A replay that cannot run (exit code 2): the message says why and what to give instead.</summary>
internal sealed class ReplayException(string message) : Exception(message);
