using System.Buffers.Text;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// A time as one part of a record gives it (the envelope, its <c>source</c> block, the unwrap SMT's metadata): up to three
/// fields <c>ts_ms</c>, <c>ts_us</c>, <c>ts_ns</c>, read and judged here only. The scan notes where each value is and
/// parses only the one <see cref="Instant"/> uses: a record has up to six and one dates it.
/// </summary>
internal struct Timestamps
{
    // The instants a timestamp may name, as ticks from the epoch: anything else is no time.
    private static readonly long MinTicksSinceEpoch = DateTimeOffset.MinValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
    private static readonly long MaxTicksSinceEpoch = DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;

    public JsonSegment Millis;
    public JsonSegment Micros;
    public JsonSegment Nanos;

    /// <summary>
    /// The most precise of the three that is present, an integer, and a representable instant, as UTC. A value out of
    /// range (microseconds in <c>ts_ms</c>, as Debezium's Cassandra examples have it) is no time, never an error: the
    /// time only dates the change for latency, and the record must still invalidate.
    /// </summary>
    public readonly DateTimeOffset? Instant(ReadOnlySpan<byte> json) =>
        (Int64(json, Micros) is { } us ? SinceEpoch(us, TimeSpan.TicksPerMillisecond / 1000) : null)
        ?? (Int64(json, Nanos) is { } ns ? SinceEpoch(ns / 100, 1) : null)
        ?? (Int64(json, Millis) is { } ms ? SinceEpoch(ms, TimeSpan.TicksPerMillisecond) : null);

    /// <summary>Whether <c>ts_ms</c> is present and a 64-bit integer.</summary>
    public readonly bool HasMillis(ReadOnlySpan<byte> json) => Int64(json, Millis).HasValue;

    /// <summary>
    /// Notes where the value of the property <paramref name="name"/> is (the reader is on its name, and is left on the
    /// value) when the name is <paramref name="prefix"/> followed by <c>ts_ms</c>, <c>ts_us</c> or <c>ts_ns</c>; false,
    /// and nothing read, for any other.
    /// </summary>
    public bool TryRead(ref Utf8JsonReader reader, scoped ReadOnlySpan<byte> name, scoped ReadOnlySpan<byte> prefix, int baseOffset)
    {
        if (name.Length != prefix.Length + 5 || !name.StartsWith(prefix) || !name[prefix.Length..].StartsWith("ts_"u8) || name[^1] != (byte)'s')
        {
            return false;
        }

        switch (name[^2])
        {
            case (byte)'m':
                Millis = JsonSegment.TakeNext(ref reader, baseOffset);
                return true;
            case (byte)'u':
                Micros = JsonSegment.TakeNext(ref reader, baseOffset);
                return true;
            case (byte)'n':
                Nanos = JsonSegment.TakeNext(ref reader, baseOffset);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The value as a 64-bit integer, as <see cref="Utf8JsonReader.TryGetInt64"/> reads it; null for anything else (or nothing).</summary>
    private static long? Int64(ReadOnlySpan<byte> json, JsonSegment value)
    {
        if (value.Type != JsonTokenType.Number)
        {
            return null;
        }

        var text = value.Of(json);
        return Utf8Parser.TryParse(text, out long number, out var consumed) && consumed == text.Length ? number : null;
    }

    /// <summary><paramref name="units"/> of <paramref name="ticksPerUnit"/> ticks after the epoch; null when that is no representable instant.</summary>
    private static DateTimeOffset? SinceEpoch(long units, long ticksPerUnit) =>
        units >= MinTicksSinceEpoch / ticksPerUnit && units <= MaxTicksSinceEpoch / ticksPerUnit
            ? DateTimeOffset.UnixEpoch.AddTicks(units * ticksPerUnit)
            : null;
}
