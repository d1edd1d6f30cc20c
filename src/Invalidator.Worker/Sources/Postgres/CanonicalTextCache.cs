using System.Text;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// <see cref="PostgresTextValues.Canonicalize"/> of a value as the connection sent it (its encoded bytes), with the last
/// short value of each column remembered: a FULL update's before and after images repeat every unchanged column, and a
/// timestamp or a flag often repeats from row to row, so a value the column just had is a byte comparison instead of
/// decoding it into a new string and converting it (parsing and formatting a timestamp, say). Decoding and the
/// conversion are pure functions of (type, modifier, bytes), so the result is the same text either way; repeats share
/// one string.
/// </summary>
internal sealed class CanonicalTextCache(int columns, Encoding encoding)
{
    // Longer values are decoded and converted every time: comparing them costs more, and a long value is not kept.
    internal const int MaxCachedBytes = 64;

    private readonly Entry[] _last = new Entry[columns];

    /// <summary>The canonical text of the value <paramref name="encoded"/> of column <paramref name="column"/> (its index in the relation).</summary>
    public string Canonicalize(int column, uint typeOid, int typeModifier, ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length > MaxCachedBytes)
        {
            return PostgresTextValues.Canonicalize(typeOid, typeModifier, encoding.GetString(encoded));
        }

        ref var last = ref _last[column];
        if (last.Canonical is not null && last.TypeOid == typeOid && last.TypeModifier == typeModifier
            && encoded.SequenceEqual(last.Bytes.AsSpan(0, last.Length)))
        {
            return last.Canonical;
        }

        var canonical = PostgresTextValues.Canonicalize(typeOid, typeModifier, encoding.GetString(encoded));
        var bytes = last.Bytes ?? new byte[MaxCachedBytes];
        encoded.CopyTo(bytes);
        last = new Entry(typeOid, typeModifier, bytes, encoded.Length, canonical);
        return canonical;
    }

    private readonly record struct Entry(uint TypeOid, int TypeModifier, byte[]? Bytes, int Length, string? Canonical);
}
