using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Column and table names repeat in every event of a table, so their strings are kept and reused instead
/// of being decoded again for each record. Owned by a <see cref="DebeziumDecoder"/>. Lock-free: a slot holds an
/// immutable entry, and two threads racing for a slot only cost each other a miss.
/// </summary>
internal sealed class NameCache
{
    private const int SlotCount = 4096; // a power of two
    private const int MaxNameBytes = 128;

    private readonly Entry?[] _slots = new Entry?[SlotCount];

    /// <summary>The name the reader is on (a property name or string value).</summary>
    public string Get(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped ? reader.GetString()! : Get(reader.ValueSpan) ?? reader.GetString()!;

    /// <summary>The string for these UTF-8 bytes; null when they are not valid UTF-8.</summary>
    public string? Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxNameBytes)
        {
            return Utf8.IsValid(utf8) ? Encoding.UTF8.GetString(utf8) : null;
        }

        var hash = new HashCode();
        hash.AddBytes(utf8);
        ref var slot = ref _slots[hash.ToHashCode() & (SlotCount - 1)];
        var entry = Volatile.Read(ref slot);
        if (entry is not null && utf8.SequenceEqual(entry.Utf8))
        {
            return entry.Text;
        }

        if (!Utf8.IsValid(utf8))
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(utf8);
        Volatile.Write(ref slot, new Entry(utf8.ToArray(), text));
        return text;
    }

    private sealed class Entry(byte[] utf8, string text)
    {
        public byte[] Utf8 { get; } = utf8;

        public string Text { get; } = text;
    }
}
