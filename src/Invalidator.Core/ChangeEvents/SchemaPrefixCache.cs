using System.Collections.Concurrent;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// A topic's records carry the same schema bytes until its table changes. JsonConverter with <c>schemas.enable</c>
/// writes <c>{"schema":S,"payload":P}</c>: the last S seen on each topic is kept with its decimal columns (all the
/// decoder needs of a schema), so a record that starts with the same bytes (a vectorised compare) goes straight to its
/// payload, and the schema, most of such a record, is not tokenised again. Anything else (another schema, another
/// layout, a payload that is not an object, something after it) falls back to the full read.
/// </summary>
/// <remarks>
/// Only a schema whose whole record passed the full read is kept, so skipping identical bytes skips nothing that
/// could fail; the payload is still read and validated token by token. Entries are immutable; a topic whose schema
/// changes gets a new one. A <see cref="DebeziumDecoder"/> owns one for record values and one for keys. Thread-safe.
/// </remarks>
internal sealed class SchemaPrefixCache
{
    private const int MaxTopics = 4096;

    private static ReadOnlySpan<byte> Head => "{\"schema\":"u8;

    private static ReadOnlySpan<byte> PayloadName => ",\"payload\":"u8;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>
    /// Reads a value whose schema is the topic's last one: <paramref name="payload"/> is its payload's scan and
    /// <paramref name="schema"/> where the schema sits. False when the fast read does not apply (read it fully).
    /// </summary>
    public bool TryScan(
        string topic, ReadOnlySpan<byte> json, out JsonSegment schema, out EnvelopeFields payload, out DecimalColumns? decimals, RowPrefill? prefill = null)
    {
        schema = default;
        payload = default;
        decimals = null;
        if (!json.StartsWith(Head) || !_entries.TryGetValue(topic, out var entry))
        {
            return false;
        }

        var schemaEnd = Head.Length + entry.Schema.Length;
        var payloadStart = schemaEnd + PayloadName.Length;
        if (json.Length <= payloadStart
            || json[payloadStart] != (byte)'{'
            || !json.Slice(Head.Length, entry.Schema.Length).SequenceEqual(entry.Schema)
            || !json[schemaEnd..].StartsWith(PayloadName))
        {
            return false;
        }

        try
        {
            var payloadJson = json[payloadStart..];
            var reader = new Utf8JsonReader(payloadJson, JsonText.ReaderOptions);
            reader.Read();
            prefill?.BeginScan(entry.Decimals);
            payload = EnvelopeFields.Scan(ref reader, payloadStart, prefill, payloadJson);
            // Exactly one '}' may follow (whitespace allowed): any other property makes it no plain wrapper.
            var rest = json[(payloadStart + (int)reader.BytesConsumed)..].Trim(" \t\r\n"u8);
            if (rest.Length != 1 || rest[0] != (byte)'}')
            {
                return false;
            }
        }
        catch (JsonException)
        {
            return false; // the full read says what is wrong
        }

        schema = new JsonSegment(Head.Length, entry.Schema.Length, JsonTokenType.StartObject);
        decimals = entry.Decimals;
        return true;
    }

    /// <summary>Keeps the schema of a wrapped value that the full read accepted, for the topic's next records.</summary>
    public void Remember(string topic, ReadOnlySpan<byte> json, JsonSegment schema, DecimalColumns? decimals)
    {
        if (!schema.IsObject || schema.Start != Head.Length || !json.StartsWith(Head))
        {
            return;
        }

        if (_entries.TryGetValue(topic, out var known) && json.Slice(schema.Start, schema.Length).SequenceEqual(known.Schema))
        {
            return;
        }

        if (_entries.Count >= MaxTopics)
        {
            _entries.Clear();
        }

        _entries[topic] = new Entry(schema.Of(json).ToArray(), decimals);
    }

    private sealed class Entry(byte[] schema, DecimalColumns? decimals)
    {
        public byte[] Schema { get; } = schema;

        public DecimalColumns? Decimals { get; } = decimals;
    }
}
