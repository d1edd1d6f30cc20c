using System.Text;
using System.Text.Json;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>Direct mode's redrive reader: each region's rows of kind region not yet redriven; marking sets <c>redriven_at</c>.</summary>
internal sealed class PostgresRedriveReader(PostgresDeadLetterTable table, IOptions<InvalidatorOptions> options, ILogger<PostgresRedriveReader> logger) : IRedriveReader
{
    private readonly HashSet<string> _configuredRegions = new(options.Value.Regions.Keys, StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, long> _cursors = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _cursorLock = new();
    private int _unknownRegionsChecked;

    public string Name => table.Name;

    /// <summary>
    /// The region's letters not yet redriven, in id order, after the ones this process read before (a cursor per
    /// region, so a letter that cannot be redriven is passed over instead of blocking the ones behind it; after a
    /// restart every unmarked letter is read again). A table not created yet has none.
    /// </summary>
    public async Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken)
    {
        long cursor;
        lock (_cursorLock)
        {
            cursor = _cursors.GetValueOrDefault(region);
        }

        var letters = new List<PendingRegionLetter>();
        try
        {
            await ReportUnknownRegionsAsync(cancellationToken).ConfigureAwait(false);
            var command = table.DataSource.CreateCommand(
                $"SELECT id, payload::text FROM {table.Quoted} WHERE kind = 'region' AND redriven_at IS NULL AND lower(region) = lower($1) AND id > $2 ORDER BY id LIMIT {limit}");
            await using var disposeCommand = command.ConfigureAwait(false);
            command.Parameters.Add(new() { Value = region });
            command.Parameters.Add(new() { Value = cursor });
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var disposeReader = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                RegionDeadLetter? letter;
                try
                {
                    letter = RegionDeadLetter.FromJson(Encoding.UTF8.GetBytes(reader.GetString(1)));
                }
                catch (JsonException)
                {
                    letter = null;
                }

                var id = reader.GetInt64(0);
                letters.Add(new PendingRegionLetter(region, letter, $"{table.Table} id {id}", 0, id));
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return []; // before the source's start-up created it: nothing to redrive yet
        }

        if (letters.Count > 0)
        {
            lock (_cursorLock)
            {
                _cursors[region] = letters[^1].Position;
            }
        }

        return letters;
    }

    public async Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var command = table.DataSource.CreateCommand($"UPDATE {table.Quoted} SET redriven_at = now() WHERE id = $1");
        await using var disposeCommand = command.ConfigureAwait(false);
        command.Parameters.Add(new() { Value = letter.Position });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Letters naming a region that is not configured are never redriven: say so once per start.</summary>
    private async Task ReportUnknownRegionsAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _unknownRegionsChecked) != 0)
        {
            return;
        }

        var command = table.DataSource.CreateCommand(
            $"SELECT coalesce(region, ''), count(*) FROM {table.Quoted} WHERE kind = 'region' AND redriven_at IS NULL AND NOT (lower(coalesce(region, '')) = ANY($1)) GROUP BY 1");
        await using var disposeCommand = command.ConfigureAwait(false);
        command.Parameters.Add(new() { Value = _configuredRegions.Select(r => r.ToLowerInvariant()).ToArray() });
        var unknown = new List<(string Region, long Count)>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                unknown.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        if (Interlocked.Exchange(ref _unknownRegionsChecked, 1) == 0)
        {
            foreach (var (region, count) in unknown)
            {
                Log.RedriveUnknownRegion(logger, $"{table.Table} ({count} letters)", region);
            }
        }
    }

}
