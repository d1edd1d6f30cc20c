using Confluent.Kafka;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>A record's key as the consumer hands it over: kept by <see cref="PlanningDeserializer"/>, nothing to carry.</summary>
internal sealed class KeyKept
{
    private KeyKept()
    {
    }
}

/// <summary>A record as the consumer hands it over: what planning gave, and for a poison record its key and value (copied) for the dead letter.</summary>
internal readonly record struct PlannedMessage(PlannedRecord Planned, byte[]? PoisonKey, byte[]? PoisonValue);

/// <summary>
/// Decodes and plans each record into the runner's <see cref="OpenBatch"/> while Confluent's <c>Consume</c> still
/// holds it in librdkafka's memory: the deserializers see the key and value as spans, so neither is copied into a new
/// array (for a schema-enabled value most of the record). Only a poison record's key and value are copied, for the
/// dead-letter topic, and come back with it. Confluent calls the key's deserializer first, then the value's, on the
/// consuming thread: the key is kept in a reusable buffer until the value arrives. Never throws: bad input is a poison
/// outcome, as <see cref="RecordIntake.Add"/> says.
/// </summary>
internal sealed class PlanningDeserializer(OpenBatch open) : IDeserializer<KeyKept?>, IDeserializer<PlannedMessage>
{
    private byte[] _key = new byte[256];
    private int _keyLength;

    KeyKept? IDeserializer<KeyKept?>.Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (data.Length > _key.Length)
        {
            _key = new byte[Math.Max(data.Length, _key.Length * 2)];
        }

        data.CopyTo(_key);
        _keyLength = isNull ? -1 : data.Length;
        return null;
    }

    PlannedMessage IDeserializer<PlannedMessage>.Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        var key = _keyLength < 0 ? ReadOnlySpan<byte>.Empty : _key.AsSpan(0, _keyLength);
        var planned = open.Plan(context.Topic, key, data);
        return planned.IsPoison
            ? new PlannedMessage(planned, _keyLength < 0 ? null : key.ToArray(), isNull ? null : data.ToArray())
            : new PlannedMessage(planned, null, null);
    }
}
