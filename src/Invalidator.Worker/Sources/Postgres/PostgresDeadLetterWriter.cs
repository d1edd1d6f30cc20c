using System.Text;
using System.Text.Json;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Direct mode's dead-letter writer: rows of the dead-letter table. A write returns only once its INSERT committed, so
/// the source may then confirm the batch's LSN.
/// </summary>
internal sealed class PostgresDeadLetterWriter(PostgresDeadLetterTable table, IOptions<InvalidatorOptions> options) : IDeadLetterWriter
{
    private readonly bool _redact = options.Value.DeadLetter.Redact;

    public string Name => table.Name;

    /// <summary>Stores one region's unapplied invalidations; returns once committed, throws if not.</summary>
    public async Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var position = string.Join(",", letter.Sources.Select(s => $"{Lsn(s.From)}-{Lsn(s.To + 1)}"));
        await InsertAsync(DeadLetterKinds.Region, letter.Region, letter.Reason, letter.Attempts, Encoding.UTF8.GetString(letter.ToJson()), position, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a region's poison letter (names its server refused for good, or a quarantined letter): a row of kind poison
    /// with its region, never redriven; <c>dlq replay</c> re-applies it. Returns once committed.
    /// </summary>
    public async Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var position = string.Join(",", letter.Sources.Select(s => $"{Lsn(s.From)}-{Lsn(s.To + 1)}"));
        await InsertAsync(DeadLetterKinds.Poison, letter.Region, letter.Reason, letter.Attempts, Encoding.UTF8.GetString(letter.ToJson(DeadLetterKinds.Poison)), position, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores a change whose rules could not be evaluated (or a raw record), with the reason; returns once committed.</summary>
    public async Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poison);
        poison = _redact ? poison.Redacted() : poison;
        var payload = poison.Content switch
        {
            ChangeContent change => ChangeEventJson.Write(change.Change, poison.PositionText),
            RawRecordContent raw => RawJson(raw),
            _ => throw new ArgumentException($"Unknown poison content {poison.Content.GetType().Name}", nameof(poison)),
        };
        await InsertAsync(DeadLetterKinds.Poison, null, poison.Reason, 0, payload, poison.PositionText, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A raw record (a source that has one): its topic, and key and value in base64.</summary>
    internal static string RawJson(RawRecordContent raw) =>
        JsonSerializer.Serialize(new RawRecordRow(raw.Topic, raw.Key, raw.Value), DeadLetterJsonContext.Default.RawRecordRow);

    private async Task InsertAsync(string kind, string? region, string reason, int attempts, string payload, string position, CancellationToken cancellationToken)
    {
        var command = table.DataSource.CreateCommand(
            $"INSERT INTO {table.Quoted} (kind, region, reason, attempts, payload, source_position) VALUES ($1, $2, $3, $4, $5, $6)");
        await using var disposeCommand = command.ConfigureAwait(false);
        command.Parameters.Add(new() { Value = kind });
        command.Parameters.Add(new() { Value = (object?)region ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = reason });
        command.Parameters.Add(new() { Value = attempts });
        command.Parameters.Add(new() { Value = payload, NpgsqlDbType = NpgsqlDbType.Jsonb });
        command.Parameters.Add(new() { Value = position });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Lsn(long position) => new NpgsqlLogSequenceNumber((ulong)position).ToString();
}
