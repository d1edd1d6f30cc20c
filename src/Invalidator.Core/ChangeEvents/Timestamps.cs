using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// A time as one part of a record gives it (the envelope, its <c>source</c> block, the unwrap SMT's metadata): up to three
/// fields <c>ts_ms</c>, <c>ts_us</c>, <c>ts_ns</c>, read and judged here only.
/// </summary>
internal struct Timestamps
{
    // The instants a timestamp may name, as ticks from the epoch: anything else is no time.
    private static readonly long MinTicksSinceEpoch = DateTimeOffset.MinValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
    private static readonly long MaxTicksSinceEpoch = DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;

    public long? Millis;
    public long? Micros;
    public long? Nanos;

    /// <summary>
    /// The most precise of the three that is present and a representable instant, as UTC. A value out of range
    /// (microseconds in <c>ts_ms</c>, as Debezium's Cassandra examples have it) is no time, never an error: the time only
    /// dates the change for latency, and the record must still invalidate.
    /// </summary>
    public readonly DateTimeOffset? Instant =>
        (Micros is { } us ? SinceEpoch(us, TimeSpan.TicksPerMillisecond / 1000) : null)
        ?? (Nanos is { } ns ? SinceEpoch(ns / 100, 1) : null)
        ?? (Millis is { } ms ? SinceEpoch(ms, TimeSpan.TicksPerMillisecond) : null);

    /// <summary>
    /// Reads the value of the property <paramref name="name"/> (the reader is on its name) when the name is
    /// <paramref name="prefix"/> followed by <c>ts_ms</c>, <c>ts_us</c> or <c>ts_ns</c>; false, and nothing read, for any other.
    /// </summary>
    public bool TryRead(ref Utf8JsonReader reader, scoped ReadOnlySpan<byte> name, scoped ReadOnlySpan<byte> prefix)
    {
        if (name.Length != prefix.Length + 5 || !name.StartsWith(prefix) || !name[prefix.Length..].StartsWith("ts_"u8) || name[^1] != (byte)'s')
        {
            return false;
        }

        switch (name[^2])
        {
            case (byte)'m':
                Millis = ReadInt64(ref reader);
                return true;
            case (byte)'u':
                Micros = ReadInt64(ref reader);
                return true;
            case (byte)'n':
                Nanos = ReadInt64(ref reader);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Reads the next value as a 64-bit integer; null (or anything that is not an integer) gives null.</summary>
    private static long? ReadInt64(ref Utf8JsonReader reader)
    {
        reader.Read();
        long? value = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var number) ? number : null;
        reader.Skip();
        return value;
    }

    /// <summary><paramref name="units"/> of <paramref name="ticksPerUnit"/> ticks after the epoch; null when that is no representable instant.</summary>
    private static DateTimeOffset? SinceEpoch(long units, long ticksPerUnit) =>
        units >= MinTicksSinceEpoch / ticksPerUnit && units <= MaxTicksSinceEpoch / ticksPerUnit
            ? DateTimeOffset.UnixEpoch.AddTicks(units * ticksPerUnit)
            : null;
}
