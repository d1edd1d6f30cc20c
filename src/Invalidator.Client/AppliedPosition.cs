using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Invalidator.Client;

/// <summary>
/// Read-your-writes in direct mode: the position a region has applied. The worker reads the database's changes in
/// commit order from its replication slot and, after a batch's deletes are applied in a region, writes the position
/// it reached to <see cref="KeyName"/> (with the region's key prefix): every change committed before it is invalidated
/// in that region. A writer that takes <c>SELECT pg_current_wal_lsn()</c> after its commit knows its change is
/// invalidated once that position is at or past its LSN. Kafka mode has no such position (partitions are applied
/// independently): there the probe's freshness figure is the bound.
/// </summary>
public static class AppliedPosition
{
    /// <summary>The worker's reserved name holding the region's applied position, in Postgres' <c>pg_lsn</c> text form (<c>16/B374D848</c>).</summary>
    public const string KeyName = "invalidator:applied";

    /// <summary>Parses an LSN in Postgres' text form (<c>16/B374D848</c>, as <c>pg_current_wal_lsn()::text</c> prints it).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ulong lsn)
    {
        lsn = 0;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0 || slash > 8 || slash == text!.Length - 1 || text.Length - slash - 1 > 8)
        {
            return false;
        }

        if (!uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
        {
            return false;
        }

        lsn = ((ulong)high << 32) | low;
        return true;
    }

    /// <summary>Parses an LSN in Postgres' text form; throws <see cref="ArgumentException"/> when it is not one.</summary>
    public static ulong Parse(string text, string? parameterName = null) =>
        TryParse(text, out var lsn) ? lsn : throw new ArgumentException($"'{text}' is not an LSN in Postgres' text form (such as 16/B374D848).", parameterName ?? nameof(text));

    /// <summary>An LSN in Postgres' text form.</summary>
    public static string Format(ulong lsn) => string.Create(CultureInfo.InvariantCulture, $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}");
}
