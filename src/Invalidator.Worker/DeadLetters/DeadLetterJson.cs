using System.Text.Json;
using System.Text.Json.Serialization;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// The JSON of the dead-letter rows and records, a format <c>dlq replay</c> and people read back: camelCase names in
/// declaration order, nulls written (the web defaults, so reading ignores the case of names). Metadata mode: .NET 10's
/// fast path writes a null <c>byte[]</c> as <c>""</c> (dotnet/runtime#129833), a raw record without key as an empty key.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never, GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(RegionDeadLetter.Envelope))]
[JsonSerializable(typeof(ChangeEventRow))]
[JsonSerializable(typeof(RawRecordRow))]
internal sealed partial class DeadLetterJsonContext : JsonSerializerContext;

/// <summary>
/// A decoded change: each image column to its canonical text (SQL NULL as null); an image the change has not is null.
/// <see cref="CommitTime"/> is left out when unknown.
/// </summary>
internal sealed record ChangeEventRow(
    string Table,
    string Op,
    string Lsn,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? CommitTime,
    IReadOnlyDictionary<string, string?>? Before,
    IReadOnlyDictionary<string, string?>? After,
    IReadOnlyDictionary<string, string?>? Key);

/// <summary>A raw record in direct mode's table: its topic, and key and value in base64 (null when absent).</summary>
internal sealed record RawRecordRow(string Topic, byte[]? Key, byte[]? Value);
