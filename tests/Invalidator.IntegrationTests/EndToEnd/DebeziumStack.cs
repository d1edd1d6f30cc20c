using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using Invalidator.IntegrationTests.Deploy;
using Invalidator.IntegrationTests.Infrastructure;
using Npgsql;
using Testcontainers.Kafka;
using Testcontainers.PostgreSql;
using Testcontainers.Redis;

namespace Invalidator.IntegrationTests.EndToEnd;

/// <summary>
/// The production path in containers on one Docker network, with the images docker-compose.yml pins:
/// Postgres (wal_level=logical, the demo schema), Kafka in KRaft mode, Debezium Connect with
/// deploy/debezium/postgres-connector.json registered unchanged, and two Redis servers (the regions east and
/// west). The worker runs on the host, as its own process (see the tests), against the containers' mapped ports.
/// Needs a Docker engine: scripts/test.sh excludes the DockerEndToEnd category where there is none.
/// </summary>
public sealed class DebeziumStack : IAsyncLifetime
{
    public const string Category = "DockerEndToEnd";

    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    private readonly List<IAsyncDisposable> _resources = [];
    private INetwork? _network;
    private PostgreSqlContainer? _postgres;
    private KafkaContainer? _kafka;
    private IContainer? _connect;
    private RedisContainer[] _redis = [];

    /// <summary>Region names in Redis-container order.</summary>
    public IReadOnlyList<string> Regions { get; } = ["east", "west"];

    public string PostgresConnectionString => _postgres!.GetConnectionString();

    public string KafkaBootstrapServers => _kafka!.GetBootstrapAddress();

    public string RedisConnectionString(int region) => _redis[region].GetConnectionString();

    /// <summary>The topic pattern the shipped configuration reads (docker-compose.yml's worker).</summary>
    public static string TopicPattern => (string)DeployFiles.Map(Compose(), "services", "invalidator", "environment")["Invalidator__Kafka__TopicPattern"]!;

    public async Task InitializeAsync()
    {
        if (!DockerAvailability.UseContainers)
        {
            throw new InvalidOperationException(
                $"The {Category} tests need a Docker engine and none was found. scripts/test.sh leaves them out where there is none; " +
                $"with dotnet test directly, add --filter \"Category!={Category}\".");
        }

        var services = DeployFiles.Map(Compose(), "services");
        string Image(string service) => DeployFiles.Text(services, service, "image")!;

        _network = new NetworkBuilder().WithName($"invalidator-e2e-{Guid.NewGuid():N}").Build();
        await _network.CreateAsync();
        _resources.Add(_network);

        _postgres = new PostgreSqlBuilder(Image("postgres"))
            .WithNetwork(_network)
            .WithNetworkAliases("postgres") // database.hostname of the connector
            .WithDatabase("app")
            .WithUsername("postgres")
            .WithPassword("postgres")
            .WithCommand("-c", "wal_level=logical")
            .Build();
        _kafka = new KafkaBuilder(Image("kafka"))
            .WithNetwork(_network)
            .WithListener("kafka:19092") // for Connect, inside the network; the worker uses the mapped port
            .Build();
        _redis = Regions.Select(_ => new RedisBuilder(Image("redis-east")).WithNetwork(_network).Build()).ToArray();
        _connect = new ContainerBuilder(Image("connect"))
            .WithNetwork(_network)
            .WithEnvironment("BOOTSTRAP_SERVERS", "kafka:19092")
            .WithEnvironment("GROUP_ID", "connect")
            .WithEnvironment("CONFIG_STORAGE_TOPIC", "connect_configs")
            .WithEnvironment("OFFSET_STORAGE_TOPIC", "connect_offsets")
            .WithEnvironment("STATUS_STORAGE_TOPIC", "connect_statuses")
            .WithPortBinding(8083, assignRandomHostPort: true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(
                request => request.ForPort(8083).ForPath("/connectors"),
                wait => wait.WithTimeout(Deadline)))
            .Build();
        _resources.AddRange([_postgres, _kafka, .. _redis]);

        await Task.WhenAll([_postgres.StartAsync(), _kafka.StartAsync(), .. _redis.Select(r => r.StartAsync())]);
        _resources.Add(_connect);
        await _connect.StartAsync();

        await ExecuteSqlAsync(await File.ReadAllTextAsync(DeployFiles.PathOf("deploy", "demo", "schema.sql")));
        await RegisterConnectorAsync();
        await WaitForTopicsAsync();
    }

    public async Task ExecuteSqlAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        // Containers before the network they are attached to.
        foreach (var resource in Enumerable.Reverse(_resources))
        {
            await resource.DisposeAsync();
        }
    }

    private static Dictionary<string, object?> Compose() => DeployFiles.LoadYaml(DeployFiles.PathOf("docker-compose.yml")).Single();

    /// <summary>POSTs the shipped connector file as it is, then waits until its task runs.</summary>
    private async Task RegisterConnectorAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{_connect!.Hostname}:{_connect.GetMappedPublicPort(8083)}/") };
        var file = DeployFiles.PathOf("deploy", "debezium", "postgres-connector.json");
        using var content = new StringContent(await File.ReadAllTextAsync(file), System.Text.Encoding.UTF8, "application/json");
        using var created = await http.PostAsync("connectors", content);
        Assert.True(created.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, $"registering {file}: {created.StatusCode} {await created.Content.ReadAsStringAsync()}");

        var name = JsonDocument.Parse(await File.ReadAllTextAsync(file)).RootElement.GetProperty("name").GetString();
        await Eventually.AssertAsync(
            async () =>
            {
                var status = await http.GetFromJsonAsync<JsonElement>($"connectors/{name}/status");
                return status.GetProperty("connector").GetProperty("state").GetString() == "RUNNING"
                    && status.GetProperty("tasks").EnumerateArray().Any(t => t.GetProperty("state").GetString() == "RUNNING");
            },
            Deadline,
            $"connector {name} and its task run");
    }

    /// <summary>The snapshot creates a topic per captured table; the worker's pattern subscription then finds them at once.</summary>
    private async Task WaitForTopicsAsync()
    {
        var tables = DeployFiles.ConnectorConfig()["table.include.list"].Split(',', StringSplitOptions.TrimEntries);
        var prefix = DeployFiles.ConnectorConfig()["topic.prefix"];
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = KafkaBootstrapServers }).Build();
        await Eventually.AssertAsync(
            () =>
            {
                var topics = admin.GetMetadata(TimeSpan.FromSeconds(5)).Topics.Select(t => t.Topic).ToHashSet();
                return Task.FromResult(tables.All(table => topics.Contains($"{prefix}.{table}")));
            },
            Deadline,
            "Debezium created a topic for every captured table");
    }
}
