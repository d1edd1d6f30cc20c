using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Worker;
using Npgsql;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>
/// Stands in for Debezium in the Kafka-mode probe tests, and does no more than the probe needs of it: it reads the
/// canary table's committed changes from a logical replication slot (<c>test_decoding</c>, with commit times) and
/// produces each as Debezium 2.x's Postgres connector would with the schemaless JSON converter: op <c>c</c> for an insert
/// and <c>u</c> for an update, <c>before</c> null (the table keeps REPLICA IDENTITY DEFAULT), <c>after</c> the row,
/// <c>source.ts_ms</c> the commit time, on <c>&lt;prefix&gt;.public.invalidator_canary</c>, keyed by the row's primary key
/// (<c>{"worker":...}</c>) with the Java client's partitioner (murmur2), so the key decides the partition as it does
/// under Kafka Connect. Snapshots, schemas, heartbeats and restarts are not Debezium's here: the slot is read from
/// its creation on, in one session, until <see cref="StopAsync"/>.
/// </summary>
internal sealed partial class CanaryRelay : IAsyncDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    private readonly string _connectionString;
    private readonly string _slot;
    private readonly IProducer<string, string> _producer;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<RelayedCanary> _relayed = new();
    private Task _running = Task.CompletedTask;

    private CanaryRelay(string connectionString, string slot, string bootstrapServers, string topic)
    {
        // The commit times test_decoding prints are in the session's time zone.
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Timezone = "UTC" }.ConnectionString;
        _slot = slot;
        Topic = topic;
        _producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            Partitioner = Confluent.Kafka.Partitioner.Murmur2Random,
            Acks = Acks.All,
            LingerMs = 0,
        }).Build();
    }

    public string Topic { get; }

    /// <summary>Every change produced so far, in commit order.</summary>
    public IReadOnlyList<RelayedCanary> Relayed => [.. _relayed];

    /// <summary>Creates the slot (changes committed from now on are relayed) and starts relaying to <paramref name="topic"/>.</summary>
    public static async Task<CanaryRelay> StartAsync(string connectionString, string slot, string bootstrapServers, string topic)
    {
        var relay = new CanaryRelay(connectionString, slot, bootstrapServers, topic);
        await using (var connection = new NpgsqlConnection(relay._connectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", connection)
            {
                Parameters = { new() { Value = slot } },
            };
            await create.ExecuteNonQueryAsync();
        }

        relay._running = Task.Run(relay.RunAsync);
        return relay;
    }

    /// <summary>Stops relaying: once this returns nothing more is produced (changes committed since stay in the slot).</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _producer.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(_stop.Token);
        var pending = new List<(string Op, string Worker, long Seq, string WrittenAt)>();
        while (!_stop.IsCancellationRequested)
        {
            await using (var changes = new NpgsqlCommand(
                "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL, 'include-timestamp', 'on', 'skip-empty-xacts', 'on')", connection)
                { Parameters = { new() { Value = _slot } } })
            {
                // Not cancelled by the stop: a read of the slot consumes what it returns, so it is relayed in full.
                await using var reader = await changes.ExecuteReaderAsync(CancellationToken.None);
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    var line = reader.GetString(0);
                    if (Change().Match(line) is { Success: true } change)
                    {
                        pending.Add((change.Groups["op"].Value == "INSERT" ? "c" : "u", change.Groups["worker"].Value.Replace("''", "'", StringComparison.Ordinal),
                            long.Parse(change.Groups["seq"].Value, CultureInfo.InvariantCulture), change.Groups["at"].Value));
                    }
                    else if (Commit().Match(line) is { Success: true } commit)
                    {
                        var committed = PostgresTime(commit.Groups["at"].Value);
                        foreach (var (op, worker, seq, writtenAt) in pending)
                        {
                            var delivered = await _producer.ProduceAsync(Topic, new Message<string, string>
                            {
                                Key = System.Text.Json.JsonSerializer.Serialize(new { worker }),
                                Value = Debezium.Envelope(op, null, new { worker, seq, written_at = PostgresTime(writtenAt).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture) },
                                    table: "invalidator_canary", committed: committed),
                            }, CancellationToken.None);
                            _relayed.Enqueue(new RelayedCanary(worker, seq, op, delivered.Partition.Value, committed));
                        }

                        pending.Clear();
                    }
                }
            }

            try
            {
                await Task.Delay(Poll, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>A timestamptz as Postgres prints it in UTC (<c>2026-12-07 04:55:36.123456+00</c>).</summary>
    private static DateTimeOffset PostgresTime(string text) =>
        DateTimeOffset.Parse(text.EndsWith("+00", StringComparison.Ordinal) ? text + ":00" : text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [GeneratedRegex(@"^table public\.invalidator_canary: (?<op>INSERT|UPDATE): worker\[text\]:'(?<worker>(?:[^']|'')*)' seq\[bigint\]:(?<seq>-?\d+) written_at\[timestamp with time zone\]:'(?<at>[^']*)'$")]
    private static partial Regex Change();

    [GeneratedRegex(@"^COMMIT \d+ \(at (?<at>[^)]*)\)$")]
    private static partial Regex Commit();
}

/// <summary>One canary row change the relay produced: whose, which seq, and the partition its key went to.</summary>
internal sealed record RelayedCanary(string Worker, long Seq, string Op, int Partition, DateTimeOffset Committed);
