using System.Text;
using Confluent.Kafka;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>Reading a record's headers as text.</summary>
internal static class KafkaHeaders
{
    /// <summary>The last value of header <paramref name="name"/> as UTF-8 text, or null when the record has none.</summary>
    public static string? Text(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
