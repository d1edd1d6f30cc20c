using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// N real Redis servers: local redis-server processes where there is no Docker, else containers.
/// A server keeps its address across <see cref="KillAsync"/>/<see cref="StopAsync"/> and
/// <see cref="StartAsync"/>, so fault tests can take a region down and bring it back under the same
/// connection string. A restarted server is empty (no persistence).
/// </summary>
public abstract class RedisServers : IAsyncDisposable
{
    public abstract int Count { get; }

    public static async Task<RedisServers> StartNewAsync(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (DockerAvailability.UseContainers)
        {
            return await ContainerRedisServers.CreateAsync(count).ConfigureAwait(false);
        }

        return await ProcessRedisServers.CreateAsync(count).ConfigureAwait(false);
    }

    /// <summary>"host:port" of server <paramref name="index"/>, usable as a StackExchange.Redis configuration.</summary>
    public abstract string ConnectionString(int index);

    /// <summary>Ends the server abruptly (SIGKILL for a process), as a crash would.</summary>
    public abstract Task KillAsync(int index);

    /// <summary>Shuts the server down cleanly.</summary>
    public abstract Task StopAsync(int index);

    /// <summary>Starts a stopped or killed server again on the same port and waits until it answers.</summary>
    public abstract Task StartAsync(int index);

    /// <summary>
    /// A connection for test assertions. Connecting succeeds while the server is down; commands on a down
    /// server fail at once (no backlog) and it reconnects quickly after a restart. The caller disposes it.
    /// </summary>
    public Task<ConnectionMultiplexer> ConnectAsync(int index)
    {
        var options = ConfigurationOptions.Parse(ConnectionString(index));
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        options.AsyncTimeout = 2000;
        options.SyncTimeout = 2000;
        // The defaults queue commands for a down server until a 5 s timeout and back off reconnects
        // exponentially: too slow for fault tests that wait on both.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(100);
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    public abstract ValueTask DisposeAsync();
}
