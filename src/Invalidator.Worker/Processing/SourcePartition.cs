namespace Invalidator.Worker.Processing;

/// <summary>A partition of a source: a Kafka topic and partition, or <c>("postgres", 0)</c> for the direct source's slot.</summary>
internal readonly record struct SourcePartition(string Source, int Partition)
{
    public override string ToString() => $"{Source}[{Partition}]";
}
