using System.Net;
using System.Net.Sockets;
using Testcontainers.Redis;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>Redis containers, where Docker is available.</summary>
internal sealed class ContainerRedisServers : RedisServers
{
    private const string Image = "redis:7.2-alpine";
    private const int RedisPort = 6379;

    private readonly RedisContainer[] _containers;

    private ContainerRedisServers(RedisContainer[] containers) => _containers = containers;

    public override int Count => _containers.Length;

    public static async Task<ContainerRedisServers> CreateAsync(int count)
    {
        // A fixed host port keeps the connection string valid across stop and start; Docker would
        // otherwise map a new random port on every start.
        var containers = Enumerable.Range(0, count)
            .Select(_ => new RedisBuilder(Image)
                .WithPortBinding(FreeLoopbackPort(), RedisPort)
                .WithCommand("--save", "", "--appendonly", "no") // a restarted server starts empty, as locally
                .Build())
            .ToArray();
        var servers = new ContainerRedisServers(containers);
        try
        {
            await Task.WhenAll(containers.Select(c => c.StartAsync())).ConfigureAwait(false);
            return servers;
        }
        catch
        {
            await servers.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override string ConnectionString(int index) => _containers[index].GetConnectionString();

    // Docker stop is the closest Testcontainers offers to a crash; the data is lost either way.
    public override Task KillAsync(int index) => _containers[index].StopAsync();

    public override Task StopAsync(int index) => _containers[index].StopAsync();

    public override Task StartAsync(int index) => _containers[index].StartAsync();

    public override async ValueTask DisposeAsync()
    {
        foreach (var container in _containers)
        {
            await container.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
