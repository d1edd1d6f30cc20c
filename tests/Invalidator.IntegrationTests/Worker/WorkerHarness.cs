using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// One test's worker: its own topic, consumer group and key prefix on the shared servers, running the real
/// host (options, rules file, Kafka source, region invalidators) in process.
/// </summary>
public sealed class WorkerHarness : IAsyncDisposable
{
    private readonly ServersFixture _servers;
    private readonly string _directory;
    private readonly List<IHost> _hosts = [];

    public WorkerHarness(ServersFixture servers, string rulesYaml, string name)
    {
        _servers = servers;
        Topic = ServersFixture.UniqueName($"{name}.public.t");
        GroupId = ServersFixture.UniqueName($"{name}-group");
        KeyPrefix = ServersFixture.UniqueName(name) + ":";
        DeadLetterTopic = ServersFixture.UniqueName($"{name}-dlq");
        _directory = Directory.CreateTempSubdirectory("invalidator-test-").FullName;
        RulesPath = Path.Combine(_directory, "rules.yaml");
        File.WriteAllText(RulesPath, rulesYaml);
    }

    public string Topic { get; }

    public string GroupId { get; }

    /// <summary>Every key of this test lives under this prefix in both regions (the regions' KeyPrefix).</summary>
    public string KeyPrefix { get; }

    public string DeadLetterTopic { get; }

    public string RulesPath { get; }

    /// <summary>Log events of every worker this harness started.</summary>
    public LogCapture Logs { get; } = new();

    /// <summary>Bootstrap servers the worker uses: the shared broker unless a test gives its own cluster.</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Extra settings (over the harness defaults) for the next <see cref="StartAsync"/>.</summary>
    public Dictionary<string, string?> Settings { get; } = [];

    /// <summary>Services registered after the worker's own (a later registration replaces a worker's part), for the next <see cref="StartAsync"/>.</summary>
    public Action<IServiceCollection>? Services { get; set; }

    public async Task CreateTopicAsync(int partitions = 3) => await _servers.Kafka.CreateTopicAsync(Topic, partitions);

    /// <summary>Starts a worker (a new host, like a new process) in this test's group.</summary>
    internal async Task<IHost> StartAsync(IBatchListener? listener = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = _directory });
        builder.Configuration.AddInMemoryCollection(ProcessSettings());
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

    public Task<TopicPartitionOffset> ProduceAsync(string? value, int partition = 0, string? key = null) =>
        _servers.Kafka.ProduceAsync(Topic, partition, key, value);

    public IReadOnlyList<string> RegionConnectionStrings => _servers.Regions.Select(_servers.RedisConnectionString).ToList();

    /// <summary>The settings a worker process of this test runs with (harness defaults plus <see cref="Settings"/>).</summary>
    public Dictionary<string, string?> ProcessSettings()
    {
        var settings = DefaultSettings();
        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        return settings;
    }

    private Dictionary<string, string?> DefaultSettings()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = BootstrapServers.Length > 0 ? BootstrapServers : _servers.Kafka.BootstrapServers,
            ["Invalidator:Kafka:GroupId"] = GroupId,
            ["Invalidator:Kafka:Topics:0"] = Topic,
            // The mock broker delays a re-join by session.timeout.ms - 1000: keep sessions short in tests.
            ["Invalidator:Kafka:Consumer:session.timeout.ms"] = "2000",
            ["Invalidator:Kafka:Consumer:heartbeat.interval.ms"] = "500",
            ["Invalidator:Kafka:Consumer:auto.commit.interval.ms"] = "200",
            // The mock broker answers a fetch only when fetch.wait.max.ms runs out: keep it short so tests are quick.
            ["Invalidator:Kafka:Consumer:fetch.wait.max.ms"] = "50",
            ["Invalidator:Kafka:Consumer:topic.metadata.refresh.interval.ms"] = "1000",
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:Batching:MaxWait"] = "00:00:00.020",
            ["Invalidator:DeadLetter:Topic"] = DeadLetterTopic,
            // Port 0: every worker of every test gets its own free ports (see HttpEndpoints.Addresses and StatusAddresses).
            ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
            ["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0",
        };
        foreach (var region in _servers.Regions)
        {
            settings[$"Invalidator:Regions:{region}:Redis"] = _servers.RedisConnectionString(region);
            settings[$"Invalidator:Regions:{region}:KeyPrefix"] = KeyPrefix;
            settings[$"Invalidator:Regions:{region}:Resilience:BaseDelay"] = "00:00:00.050";
        }

        return settings;
    }

    public async ValueTask DisposeAsync()
    {
        await WorkerHosts.StopAndDisposeAllAsync(_hosts);

        Directory.Delete(_directory, recursive: true);
    }
}
