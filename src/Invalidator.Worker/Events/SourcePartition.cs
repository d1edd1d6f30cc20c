namespace Invalidator.Worker.Events;

/// <summary>
/// A partition of a source: a Kafka topic and partition, or <c>("postgres", 0)</c> for the direct source's slot. Here,
/// beside the events that name it, so that every part of the worker below the sources can name a partition.
/// </summary>
internal readonly record struct SourcePartition(string Source, int Partition)
{
    public override string ToString() => $"{Source}[{Partition}]";
}
