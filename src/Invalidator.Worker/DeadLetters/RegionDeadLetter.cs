using System.Text.Json;
using System.Text.Json.Serialization;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// A region's invalidations that it could not apply: the dead-letter record's value (JSON). It names the
/// source positions it came from, so an operator can trace it, and is redriven once the region is back.
/// The same shape, of kind <see cref="DeadLetterKinds.Poison"/>, holds the names a region's server refused for good
/// (the server's error is its reason) or a letter quarantined by the redrive: never redriven, <c>dlq replay</c> re-applies it.
/// </summary>
internal sealed record RegionDeadLetter(
    string Region,
    IReadOnlyCollection<string> Keys,
    IReadOnlyCollection<string> Tags,
    string Reason,
    int Attempts,
    IReadOnlyList<RegionDeadLetter.SourceRange> Sources,
    DateTimeOffset FailedAt)
{
    public const string Kind = "region";

    /// <summary>Records <paramref name="From"/> to <paramref name="To"/> (inclusive) of a topic partition, or an LSN range.</summary>
    internal sealed record SourceRange(string Source, int Partition, long From, long To);

    /// <summary>The letter as JSON, <c>{"kind":"region","letter":{...}}</c> (<paramref name="kind"/> <c>poison</c> for a region's poison letter).</summary>
    public byte[] ToJson(string kind = Kind) => JsonSerializer.SerializeToUtf8Bytes(new Envelope(kind, this), DeadLetterJsonContext.Default.Envelope);

    /// <summary>Reads a region dead letter (of <paramref name="kind"/>); throws <see cref="JsonException"/> when the bytes are not one.</summary>
    public static RegionDeadLetter FromJson(ReadOnlySpan<byte> json, string kind = Kind)
    {
        var envelope = JsonSerializer.Deserialize(json, DeadLetterJsonContext.Default.Envelope);
        return envelope is { Letter: { } letter } && envelope.Kind == kind && !string.IsNullOrEmpty(letter.Region)
            ? letter with { Keys = letter.Keys ?? [], Tags = letter.Tags ?? [], Sources = letter.Sources ?? [] }
            : throw new JsonException($"not a dead letter of kind {kind}");
    }

    internal sealed record Envelope(string Kind, RegionDeadLetter Letter);
}
