using Npgsql;
using Testcontainers.PostgreSql;

namespace Invalidator.IntegrationTests.Infrastructure.Postgres;

/// <summary>A postgres:15 container with logical WAL, where Docker is available.</summary>
internal sealed class ContainerPostgresServer : PostgresServer
{
    private const string Image = "postgres:15";

    private readonly PostgreSqlContainer _container;

    private ContainerPostgresServer(PostgreSqlContainer container) => _container = container;

    public static async Task<ContainerPostgresServer> CreateAsync(string walLevel)
    {
        var container = new PostgreSqlBuilder(Image)
            .WithCommand("-c", $"wal_level={walLevel}", "-c", "max_replication_slots=32", "-c", "max_wal_senders=32", "-c", "fsync=off")
            .Build();
        var server = new ContainerPostgresServer(container);
        try
        {
            await container.StartAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder(_container.GetConnectionString()) { Database = database }.ConnectionString;

    public override ValueTask DisposeAsync() => _container.DisposeAsync();
}
