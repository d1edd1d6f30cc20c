namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// <see cref="PostgresTextValues.Canonicalize"/> with the last short value of each column remembered: a FULL update's
/// before and after images repeat every unchanged column, and a timestamp or a flag often repeats from row to row, so
/// converting a value the column just had (parsing and formatting a timestamp, say) is a string comparison instead.
/// The conversion is a pure function of (type, modifier, text), so the result is the same string either way.
/// </summary>
internal sealed class CanonicalTextCache(int columns)
{
    // Longer values are converted every time: comparing them costs more, and a long value is not kept alive.
    internal const int MaxCachedLength = 64;

    private readonly Entry[] _last = new Entry[columns];

    /// <summary>The canonical text of <paramref name="text"/>, the value of column <paramref name="column"/> (its index in the relation).</summary>
    public string Canonicalize(int column, uint typeOid, int typeModifier, string text)
    {
        if (text.Length > MaxCachedLength || !PostgresTextValues.Converts(typeOid, typeModifier))
        {
            return PostgresTextValues.Canonicalize(typeOid, typeModifier, text);
        }

        ref var last = ref _last[column];
        if (last.TypeOid == typeOid && last.TypeModifier == typeModifier && string.Equals(last.Text, text, StringComparison.Ordinal))
        {
            return last.Canonical!;
        }

        var canonical = PostgresTextValues.Canonicalize(typeOid, typeModifier, text);
        last = new Entry(typeOid, typeModifier, text, canonical);
        return canonical;
    }

    private readonly record struct Entry(uint TypeOid, int TypeModifier, string? Text, string? Canonical);
}
