using Confluent.Kafka;
using Invalidator.Core.Planning;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>A record's key as the consumer hands it over: kept by <see cref="PlanningDeserializer"/>, nothing to carry.</summary>
internal sealed class KeyKept
{
    private KeyKept()
    {
    }
}

/// <summary>
/// Decodes and plans each record while Confluent's <c>Consume</c> still holds it in librdkafka's memory: the
/// deserializers see the key and value as spans, so neither is copied into a new array (for a schema-enabled value
/// most of the record). Only a poison record's key and value are copied, for the dead-letter topic. Confluent calls
/// the key's deserializer first, then the value's, on the consuming thread: the key is kept in a reusable buffer
/// until the value arrives. The open batch's first record takes the live rules version (<see cref="ChangeRecordPlanner.UseLatestRules"/>),
/// so a batch is planned with one version. Never throws: bad input is a poison outcome, as <see cref="ChangeRecordPlanner.Add"/> says.
/// </summary>
internal sealed class PlanningDeserializer(ChangeRecordPlanner planner, Func<SourceBatch> openBatch, int maxValueBytes)
    : IDeserializer<KeyKept?>, IDeserializer<PlannedRecord>
{
    private byte[] _key = new byte[256];
    private int _keyLength;

    /// <summary>The last poison record's key and value (copied), for the dead letter; null after any other record.</summary>
    public (byte[]? Key, byte[]? Value) LastPoison { get; private set; }

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

    PlannedRecord IDeserializer<PlannedRecord>.Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        var key = _keyLength < 0 ? ReadOnlySpan<byte>.Empty : _key.AsSpan(0, _keyLength);
        var open = openBatch();
        if (open.RecordCount == 0)
        {
            // A reload takes effect between batches: the batch's first record takes the live version for all of them.
            planner.UseLatestRules();
        }

        var planned = planner.Add(context.Topic, key, data, open.Invalidations, maxValueBytes);
        LastPoison = planned.IsPoison ? (_keyLength < 0 ? null : key.ToArray(), isNull ? null : data.ToArray()) : default;
        return planned;
    }
}
