using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// One direct-source test's world: its own database, publication, slot and key prefix on the shared servers,
/// and workers (the real host with <c>Invalidator:Source=Postgres</c>) started in process.
/// </summary>
public sealed class PostgresWorkerHarness : IAsyncDisposable
{
    private readonly IDirectServers _fixture;
    private readonly string _directory;
    private readonly List<IHost> _hosts = [];

    private PostgresWorkerHarness(IDirectServers fixture, string database, string rulesYaml, string name)
    {
        _fixture = fixture;
        Database = database;
        Publication = $"pub_{name}";
        Slot = $"slot_{database}";
        KeyPrefix = ServersFixture.UniqueName(name) + ":";
        _directory = Directory.CreateTempSubdirectory("invalidator-test-").FullName;
        RulesPath = Path.Combine(_directory, "rules.yaml");
        File.WriteAllText(RulesPath, rulesYaml);
    }

    public string Database { get; }

    public string Publication { get; }

    public string Slot { get; }

    /// <summary>Every key of this test lives under this prefix in both regions (the regions' KeyPrefix).</summary>
    public string KeyPrefix { get; }

    public string RulesPath { get; }

    /// <summary>What every worker of this harness logged.</summary>
    public LogCapture Logs { get; } = new();

    public string ConnectionString => _fixture.Postgres.ConnectionString(Database);

    /// <summary>Extra settings (over the harness defaults) for the next <see cref="StartAsync"/>.</summary>
    public Dictionary<string, string?> Settings { get; } = [];

    /// <summary>Services registered after the worker's own (a later registration replaces a worker's part), for the next <see cref="StartAsync"/>.</summary>
    public Action<IServiceCollection>? Services { get; set; }

    /// <summary>A database of its own, with <paramref name="schemaSql"/> run in it.</summary>
    public static async Task<PostgresWorkerHarness> CreateAsync(IDirectServers fixture, string rulesYaml, string name, string schemaSql)
    {
        var database = await fixture.Postgres.CreateDatabaseAsync($"t_{name}");
        var harness = new PostgresWorkerHarness(fixture, database, rulesYaml, name);
        await harness.ExecuteAsync(schemaSql);
        return harness;
    }

    /// <summary>Starts a worker (a new host, like a new process).</summary>
    internal async Task<IHost> StartAsync(IBatchListener? listener = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = _directory });
        // A later source overrides an earlier one, so a test's Settings replace the defaults they name.
        builder.Configuration.AddInMemoryCollection(DefaultSettings()).AddInMemoryCollection(Settings);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(Logs);
        builder.Services.AddInvalidator();
        Services?.Invoke(builder.Services);
        if (listener is not null)
        {
            builder.Services.AddSingleton(listener);
        }

        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync();
        return host;
    }

    public async Task ExecuteAsync(string sql) => await _fixture.Postgres.ExecuteAsync(Database, sql);

    public async Task<T> ScalarAsync<T>(string sql) => await _fixture.Postgres.ScalarAsync<T>(Database, sql);

    /// <summary>The slot's confirmed_flush_lsn; null before the slot exists.</summary>
    public async Task<NpgsqlLogSequenceNumber?> ConfirmedFlushAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", connection)
        {
            Parameters = { new() { Value = Slot } },
        };
        return await command.ExecuteScalarAsync() is NpgsqlLogSequenceNumber lsn ? lsn : null;
    }

    /// <summary>Whether a worker is streaming from the slot right now.</summary>
    public async Task<bool> SlotActiveAsync() =>
        await ScalarAsync<bool>($"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{Slot}'), false)");

    private Dictionary<string, string?> DefaultSettings()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Source"] = "Postgres",
            ["Invalidator:Postgres:ConnectionString"] = ConnectionString,
            ["Invalidator:Postgres:Publication"] = Publication,
            ["Invalidator:Postgres:Slot"] = Slot,
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:Batching:MaxWait"] = "00:00:00.020",
            // Port 0: every worker of every test gets its own free port.
            ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
            ["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0",
        };
        for (var i = 0; i < _fixture.Regions.Count; i++)
        {
            var region = _fixture.Regions[i];
            settings[$"Invalidator:Regions:{region}:Redis"] = _fixture.Redis.ConnectionString(i);
            settings[$"Invalidator:Regions:{region}:KeyPrefix"] = KeyPrefix;
            settings[$"Invalidator:Regions:{region}:Resilience:BaseDelay"] = "00:00:00.050";
        }

        return settings;
    }

    public async ValueTask DisposeAsync()
    {
        await WorkerHosts.StopAndDisposeAllAsync(_hosts);
        await _fixture.Postgres.DropDatabaseAsync(Database);
        Directory.Delete(_directory, recursive: true);
    }
}
