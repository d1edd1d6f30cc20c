using System.Globalization;

namespace Invalidator.Core.Rules;

/// <summary>
/// A duration as the rules file writes it: a whole number and a unit, <c>ms</c>, <c>s</c> or <c>m</c>
/// (<c>250ms</c>, <c>2s</c>, <c>1m</c>). Nothing else: a bare number would leave the unit to guesswork.
/// </summary>
public static class RuleDuration
{
    /// <summary>The units, longest suffix first so that <c>ms</c> is not read as <c>m</c>.</summary>
    private static readonly (string Suffix, long TicksPerUnit)[] Units =
    [
        ("ms", TimeSpan.TicksPerMillisecond),
        ("s", TimeSpan.TicksPerSecond),
        ("m", TimeSpan.TicksPerMinute),
    ];

    /// <summary>Reads <paramref name="text"/>; false when it is not a whole number followed by ms, s or m.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        foreach (var (suffix, ticksPerUnit) in Units)
        {
            if (!text.EndsWith(suffix, StringComparison.Ordinal))
            {
                continue;
            }

            var number = text.AsSpan(0, text.Length - suffix.Length);
            // Digits only: no sign, no spaces, no decimal point, no thousands separator.
            if (number.IsEmpty || number.Length > 9 || !IsDigits(number))
            {
                return false;
            }

            duration = TimeSpan.FromTicks(long.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture) * ticksPerUnit);
            return true;
        }

        return false;
    }

    /// <summary>The shortest exact spelling: <c>1m</c>, <c>2s</c>, <c>800ms</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration.Ticks % TimeSpan.TicksPerMinute == 0 && duration > TimeSpan.Zero)
        {
            return ((long)duration.TotalMinutes).ToString(CultureInfo.InvariantCulture) + "m";
        }

        return duration.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
    }

    private static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }
}
