namespace Invalidator.Worker.Events;

// What the sources (Kafka consumer, Postgres replication, the Kafka replay) report about their loop and what they own.

/// <summary>A source's consume loop went round (at least every few seconds while idle): <c>/healthz</c> watches it.</summary>
internal readonly record struct ConsumeLoopTicked(string Source);

/// <summary>A source's consume loop ended (shutdown or failure): <c>/healthz</c> reports it dead with the reason.</summary>
internal readonly record struct ConsumeLoopStopped(string Source, string Reason);

/// <summary>Partitions this worker now owns (Kafka rebalance). <c>/readyz</c> needs at least one, or a connected source.</summary>
internal readonly record struct PartitionsAssigned(IEnumerable<SourcePartition> Partitions);

/// <summary>Partitions taken away (revoked or lost): their lag series disappear.</summary>
internal readonly record struct PartitionsRevoked(IEnumerable<SourcePartition> Partitions);

/// <summary>A source without partitions (Postgres replication) is streaming.</summary>
internal readonly record struct SourceConnected(string Source);

/// <summary>A source without partitions lost its stream; the reason shows in <c>/readyz</c>.</summary>
internal readonly record struct SourceDisconnected(string Source, string Reason);

/// <summary>
/// librdkafka's statistics JSON, from the consumer's statistics handler (it runs inside Consume()): only the string is
/// passed on, and it is parsed when someone reads the lag.
/// </summary>
internal readonly record struct ConsumerStatisticsReported(string Json);

/// <summary>
/// The direct source's slot as last polled: how many bytes of WAL the server has written past the slot's confirmed
/// position (null before the slot exists, or when the poll failed: then <paramref name="Error"/> says why).
/// </summary>
internal readonly record struct SlotLagPolled(string Slot, long? Bytes, string? Error);
