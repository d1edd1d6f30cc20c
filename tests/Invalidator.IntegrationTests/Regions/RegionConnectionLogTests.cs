using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// The start-up log tells the truth about each region's connection (abortConnect=false lets the connect return
/// while the server is down). Real Redis servers of their own, so stopping one disturbs no other test.
/// </summary>
public sealed class RegionConnectionLogTests : IAsyncLifetime
{
    private const int Connected = 2002;
    private const int NotYetConnected = 2090;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly LogCapture _logs = new();
    private readonly ILoggerFactory _loggers;
    private RedisServers? _redis;

    public RegionConnectionLogTests() => _loggers = LoggerFactory.Create(b => b.AddProvider(_logs));

    private RedisServers Redis => _redis!;

    public async Task InitializeAsync() => _redis = await RedisServers.StartNewAsync(1);

    public async Task DisposeAsync()
    {
        _loggers.Dispose();
        await _services.DisposeAsync();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Fact]
    public void A_reachable_region_is_logged_as_connected()
    {
        using var regions = Create("east");

        var entry = Assert.Single(_logs.Entries, e => e.EventId is Connected or NotYetConnected);
        Assert.Equal(Connected, entry.EventId);
        Assert.Equal($"Region east connected to {Endpoint()} (key prefix 'p:', UNLINK)", entry.Message);
    }

    [Fact]
    public async Task A_region_that_is_down_is_logged_as_not_yet_connected_and_as_connected_once_it_answers()
    {
        await Redis.StopAsync(0);

        using var regions = Create("west");

        var atStart = Assert.Single(_logs.Entries, e => e.EventId is Connected or NotYetConnected);
        Assert.Equal(NotYetConnected, atStart.EventId);
        Assert.Equal(LogLevel.Warning, atStart.Level);
        Assert.StartsWith($"Region west is not connected to {Endpoint()} yet (key prefix 'p:', UNLINK); retrying in the background", atStart.Message, StringComparison.Ordinal);

        await Redis.StartAsync(0);

        await Eventually.AssertAsync(
            () => Task.FromResult(_logs.Count(Connected) == 1),
            TimeSpan.FromSeconds(60),
            "the region logs that it connected once the server answers");
        Assert.Equal($"Region west connected to {Endpoint()} (key prefix 'p:', UNLINK)", _logs.Entries.Single(e => e.EventId == Connected).Message);
        Assert.True(regions.Regions[0].Connection.IsConnected);
    }

    private RegionSet Create(string name)
    {
        var options = new InvalidatorOptions();
        options.Regions[name] = new RegionOptions { Redis = Redis.ConnectionString(0), KeyPrefix = "p:" };
        var events = new Invalidator.Worker.Events.WorkerEvents([new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>())]);
        return RegionSetFactory.Create(MsOptions.Create(options), events, _loggers, new FakeTimeProvider());
    }

    // As StackExchange.Redis prints the endpoint ("127.0.0.1:6379"; a host name stays a name).
    private string Endpoint() => StackExchange.Redis.ConfigurationOptions.Parse(Redis.ConnectionString(0)).EndPoints.Single().ToString()!;
}
