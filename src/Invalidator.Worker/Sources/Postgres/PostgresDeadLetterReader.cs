using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary><c>dlq replay</c>'s reader of the dead-letter table: every row, oldest first, marking nothing.</summary>
internal sealed class PostgresDeadLetterReader(PostgresDeadLetterTable table) : IDeadLetterReader
{
    /// <summary>Every row, oldest first, for <c>dlq replay</c>.</summary>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var command = table.DataSource.CreateCommand($"SELECT id, kind, reason, payload::text FROM {table.Quoted} ORDER BY id");
        await using var disposeCommand = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeReader = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var (id, kind, reason, payload) = (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
            var content = kind == DeadLetterKinds.Poison ? PoisonOrNull(payload) : null;
            yield return new StoredDeadLetter(kind, reason, $"{table.Table} id {id}", content, content is RawRecordContent raw ? raw.Topic : PostgresChangeSource.SourceName);
        }
    }

    private static PoisonContent? PoisonOrNull(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.TryGetProperty("letter", out _))
            {
                return new RegionNamesContent(RegionDeadLetter.FromJson(Encoding.UTF8.GetBytes(payload), DeadLetterKinds.Poison));
            }

            if (document.RootElement.TryGetProperty("topic", out var topic) && document.RootElement.TryGetProperty("value", out var value))
            {
                return new RawRecordContent(
                    topic.GetString() ?? "",
                    document.RootElement.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String ? key.GetBytesFromBase64() : null,
                    value.ValueKind == JsonValueKind.String ? value.GetBytesFromBase64() : null,
                    [],
                    null);
            }

            return new ChangeContent(ChangeEventJson.Read(payload));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
