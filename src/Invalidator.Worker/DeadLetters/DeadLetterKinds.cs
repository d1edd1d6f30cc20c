namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// The names every dead-letter store shares: the two kinds of letter and, on the topic, the headers that say
/// why and where a letter came from (a public contract: docs/guarantees.md "What the dead-letter topic holds").
/// </summary>
internal static class DeadLetterKinds
{
    public const string Poison = "poison";
    public const string Region = RegionDeadLetter.Kind;

    public const string KindHeader = "invalidator.kind";
    public const string ReasonHeader = "invalidator.reason";
    public const string RegionHeader = "invalidator.region";
    public const string SourceTopicHeader = "invalidator.source.topic";
    public const string SourcePartitionHeader = "invalidator.source.partition";
    public const string SourceOffsetHeader = "invalidator.source.offset";

    /// <summary>On the topic, a poison record that is a decoded change (JSON), not an original record.</summary>
    public const string FormatHeader = "invalidator.format";
    public const string ChangeFormat = "change-json";

    /// <summary>On the topic, a region's poison letter: the region's names as a letter (JSON), not a source record.</summary>
    public const string RegionNamesFormat = "region-names";

    /// <summary>On the topic, a poison letter that keeps only the record key and the reason (<c>Invalidator:DeadLetter:Redact</c>).</summary>
    public const string RedactedHeader = "invalidator.redacted";

    /// <summary>
    /// On the topic, a poison letter that holds no record: the record was larger than the topic accepts, so the letter
    /// names where it is (<see cref="SourceTopicHeader"/>, partition, offset) and why.
    /// </summary>
    public const string ReferenceHeader = "invalidator.reference";
}
